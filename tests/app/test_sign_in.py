"""Signing in and out, the idle timeout, single sign-on mapping, and who sees what when."""

import time

import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, texts, user_id
from tests.factories import make_user


def _fresh(**secrets) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets.update(secrets)
    return at


def _sign_in(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def test_signed_out_only_the_sign_in_form_runs(empty_db):
    at = _fresh().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Model catalogue"]
    assert at.text_input(key="sign_in_password") is not None


def test_the_right_password_signs_in(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    at = _sign_in(_fresh().run(), "ADA@example.com ", "the right password")
    assert not at.exception
    assert "Signed in as ada@example.com · admin" in texts(at)


def test_a_wrong_password_and_an_unknown_email_get_the_same_message(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    wrong_password = _sign_in(_fresh().run(), "ada@example.com", "not it at all")
    unknown_email = _sign_in(_fresh().run(), "nobody@example.com", "not it at all")
    assert [e.value for e in wrong_password.error] == [e.value for e in unknown_email.error] == [
        "Email or password is wrong."]  # fmt: skip


def test_hostile_sign_in_input_is_just_a_failed_sign_in(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com")
    for email, password in [("' or 1=1 --", "' or 1=1 --"), ("ada@example.com\x00", "x"), ("a" * 5000, "b" * 5000),
                            ("<script>alert(1)</script>", "")]:  # fmt: skip
        at = _sign_in(_fresh().run(), email, password)
        assert not at.exception
        assert "Email or password is wrong." in texts(at)


def test_an_account_without_a_password_cannot_sign_in(demo_db):
    at = _sign_in(_fresh().run(), "customer1@example.com", "")
    assert "Email or password is wrong." in texts(at)


def test_sign_out_forgets_the_person(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    at.button(key="sign_out").click().run()
    assert "You are signed out." in texts(at)
    assert at.text_input(key="sign_in_password") is not None


def test_idle_too_long_signs_out(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    at.session_state["_dashboard_last_seen"] = time.time() - 31 * 60
    at.run()
    assert "signed out after 30 minutes without activity" in texts(at)
    assert at.text_input(key="sign_in_password") is not None


def test_a_deleted_account_is_signed_out_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in("viewer@example.com")
    with engine.begin() as conn:
        conn.execute(sa.text("delete from auth.users where email = 'viewer@example.com'"))
    at.run()
    assert "Your account no longer exists" in texts(at)


def test_single_sign_on_maps_the_identity_providers_email_to_an_account(demo_db):
    at = _fresh(auth={"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x" * 32})
    at.user.update({"email": "viewer@example.com", "is_logged_in": True})
    at.run()
    assert not at.exception
    assert "Signed in as viewer@example.com · viewer" in texts(at)


def test_single_sign_on_without_an_account_is_told_to_ask(demo_db):
    at = _fresh(auth={"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x" * 32})
    at.user.update({"email": "stranger@example.com", "is_logged_in": True})
    at.run()
    assert "No account here for stranger@example.com" in texts(at)


def test_a_revoked_admin_loses_admin_pages_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in(page="pages/providers.py")
    with engine.begin() as conn:
        conn.execute(sa.text("delete from user_roles where user_id = :u and role = 'admin'"),
                     {"u": user_id(engine, "admin@example.com")})  # fmt: skip
    at.run()
    assert not at.exception
    assert "Providers" not in [t.value for t in at.title]
    assert "· viewer" in texts(at) or "Only admins can use this page" in texts(at)


def test_cached_reads_never_cross_people(demo_db, signed_in):
    admin = signed_in(page="pages/models.py")  # fills the cache with all 32 models
    viewer = signed_in("viewer@example.com", page="pages/models.py")
    assert len(admin.dataframe[0].value) == 32
    assert len(viewer.dataframe[0].value) == 28


def test_a_write_from_another_process_shows_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in(page="pages/models.py", q="SDXL 1.0")
    assert list(at.dataframe[0].value["display_name"]) == ["SDXL 1.0"]
    with engine.begin() as conn:  # another app process, or SQL, renames it behind this one's cache
        conn.execute(sa.text("update api_models set display_name = 'SDXL 1.0 (renamed elsewhere)' "
                             "where display_name = 'SDXL 1.0'"))  # fmt: skip
    at.run()
    assert list(at.dataframe[0].value["display_name"]) == ["SDXL 1.0 (renamed elsewhere)"]
