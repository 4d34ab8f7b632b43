"""Signing in and out, throttling, the idle timeout, single sign-on mapping, and who sees what when."""

import pyotp
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.services.auth import THROTTLE, sign_in
from dashboard.ui import session
from tests.app.conftest import APP, texts, user_id
from tests.factories import make_user
from tests.supabase_auth import add_factor, add_supabase_auth, gotrue_user


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
    assert (
        [e.value for e in wrong_password.error]
        == [e.value for e in unknown_email.error]
        == ["Email or password is wrong."]
    )


def test_hostile_sign_in_input_is_just_a_failed_sign_in(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com")
    for email, password in [
        ("' or 1=1 --", "' or 1=1 --"),
        ("ada@example.com\x00", "x"),
        ("a" * 254, "b" * 1024),  # the fields' limits (the browser stops typing there)
        ("<script>alert(1)</script>", "\u202e"),
    ]:
        at = _sign_in(_fresh().run(), email, password)
        assert not at.exception
        assert "Email or password is wrong." in texts(at)


def test_an_account_without_a_password_cannot_sign_in(demo_db):
    at = _sign_in(_fresh().run(), "customer1@example.com", "anything")
    assert "Email or password is wrong." in texts(at)


def _attempts(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from dashboard.sign_in_attempts")).scalar_one()


def test_empty_fields_are_asked_for_and_count_as_no_attempt(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    for email, password in [("", ""), ("ada@example.com", ""), ("   ", "the right password"), ("", "x")]:
        at = _sign_in(_fresh().run(), email, password)
        assert not at.exception
        assert [e.value for e in at.error] == [session.MISSING_CREDENTIALS]
    assert _attempts(engine) == 0  # nothing checked, nothing for the throttle to count


def test_a_wrong_password_empties_the_password_field_and_keeps_the_email(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    at = _sign_in(_fresh().run(), "ada@example.com", "not it")
    assert [e.value for e in at.error] == [session.WRONG_CREDENTIALS]
    assert at.text_input(key="sign_in_password").value == ""
    assert at.text_input(key="sign_in_email").value == "ada@example.com"
    at.text_input(key="sign_in_password").input("the right password")
    at.button[0].click().run()  # the email is still there: only the password is typed again
    assert "Signed in as ada@example.com · admin" in texts(at)
    at.run()
    assert not at.error  # said once, not on every run after


def test_sign_out_forgets_the_person(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    at.button(key="sign_out").click().run()
    assert "You are signed out." in texts(at)
    assert at.text_input(key="sign_in_password") is not None


def test_idle_too_long_signs_out(demo_db, engine, signed_in):
    at = signed_in("viewer@example.com")
    with engine.begin() as conn:  # the session's last activity, as the database keeps it
        conn.execute(sa.text("update dashboard.sessions set last_seen_at = now() - interval '31 minutes'"))
    at.run()
    assert "Your session expired after 30 minutes without activity; sign in again." in texts(at)
    assert at.text_input(key="sign_in_password") is not None


def test_a_deleted_account_is_signed_out_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in("viewer@example.com")
    with engine.begin() as conn:
        conn.execute(sa.text("delete from auth.users where email = 'viewer@example.com'"))
    at.run()
    assert "Your account no longer exists" in texts(at)


def test_single_sign_on_maps_the_identity_providers_email_to_an_account(demo_db):
    at = _fresh(auth={"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x" * 32})
    at.user.update({"email": "viewer@example.com", "email_verified": True, "is_logged_in": True})
    at.run()
    assert not at.exception
    assert "Signed in as viewer@example.com · viewer" in texts(at)


def test_single_sign_on_without_an_account_is_told_to_ask(demo_db):
    at = _fresh(auth={"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x" * 32})
    at.user.update({"email": "stranger@example.com", "email_verified": True, "is_logged_in": True})
    at.run()
    assert "No account here for stranger@example.com" in texts(at)


def test_a_revoked_admin_is_signed_out_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in(page="pages/providers.py")
    with engine.begin() as conn:
        conn.execute(
            sa.text("delete from user_roles where user_id = :u and role = 'admin'"),
            {"u": user_id(engine, "admin@example.com")},
        )
    at.run()
    assert not at.exception
    assert "Providers" not in [t.value for t in at.title]
    assert "Your admin role was removed, which ends your sessions; sign in again." in texts(at)


def test_cached_reads_never_cross_people(demo_db, signed_in):
    admin = signed_in(page="pages/models.py")  # fills the cache with all 32 models
    viewer = signed_in("viewer@example.com", page="pages/models.py")
    assert len(admin.dataframe[0].value) == 32
    assert len(viewer.dataframe[0].value) == 28


def test_a_write_from_another_process_shows_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in(page="pages/models.py", q="SDXL 1.0")
    assert list(at.dataframe[0].value["display_name"]) == ["SDXL 1.0"]
    with engine.begin() as conn:  # another app process, or SQL, renames it behind this one's cache
        conn.execute(
            sa.text(
                "update api_models set display_name = 'SDXL 1.0 (renamed elsewhere)' where display_name = 'SDXL 1.0'"
            )
        )
    at.run()
    assert list(at.dataframe[0].value["display_name"]) == ["SDXL 1.0 (renamed elsewhere)"]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_too_many_failures_show_when_to_try_again_and_check_no_password(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    for _ in range(THROTTLE.account_limit - 1):
        sign_in(engine, email="ada@example.com", password="not it")
    last_try = _sign_in(_fresh().run(), "ada@example.com", "still not it")
    assert _errors(last_try) == ["Email or password is wrong."]
    at = _sign_in(_fresh().run(), "ada@example.com", "the right password")
    assert not at.exception
    assert _errors(at) == ["Too many attempts; try again in 15 minutes."]
    assert "Signed in as" not in texts(at) and at.text_input(key="sign_in_password") is not None


def test_an_unknown_email_is_throttled_with_the_same_words(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    messages = []
    for email in ("ada@example.com", "nobody@example.com"):
        for _ in range(THROTTLE.account_limit):
            sign_in(engine, email=email, password="not it")
        messages.append(_errors(_sign_in(_fresh().run(), email, "not it either")))
    assert messages[0] == messages[1] == ["Too many attempts; try again in 15 minutes."]


def test_the_throttle_counts_the_browsers_address(empty_db, engine, monkeypatch):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    for n in range(THROTTLE.address_limit):
        sign_in(engine, email=f"guess{n}@example.com", password="Summer2025!", address="203.0.113.7")
    monkeypatch.setattr(session, "client_address", lambda: "203.0.113.7")
    blocked = _sign_in(_fresh().run(), "ada@example.com", "the right password")
    assert _errors(blocked) == ["Too many attempts; try again in 15 minutes."]
    monkeypatch.setattr(session, "client_address", lambda: "198.51.100.1")
    elsewhere = _sign_in(_fresh().run(), "ada@example.com", "the right password")
    assert "Signed in as ada@example.com · admin" in texts(elsewhere)


def test_a_browser_without_a_known_address_is_throttled_per_account_only(empty_db, engine):
    make_user(engine, "admin", email="ada@example.com", password="the right password")
    at = _sign_in(_fresh().run(), "ada@example.com", "the right password")  # AppTest gives no real address
    assert "Signed in as ada@example.com · admin" in texts(at)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select address, outcome from dashboard.sign_in_attempts")).all()
    assert [tuple(r) for r in rows] == [(None, "success")]


@pytest.mark.parametrize(("minutes", "words"), [(1, "try again in 1 minute."), (15, "try again in 15 minutes.")])
def test_the_throttled_message_counts_minutes(minutes, words):
    assert session.throttled_message(minutes) == f"Too many attempts; {words}"


def test_the_idle_timeout_follows_its_setting(demo_db, engine, signed_in, monkeypatch):
    monkeypatch.setenv("DASHBOARD_IDLE_MINUTES", "5")
    at = signed_in("viewer@example.com")
    with engine.begin() as conn:
        conn.execute(sa.text("update dashboard.sessions set last_seen_at = now() - interval '4 minutes'"))
    at.run()
    assert "Signed in as viewer@example.com" in texts(at)
    with engine.begin() as conn:
        conn.execute(sa.text("update dashboard.sessions set last_seen_at = now() - interval '6 minutes'"))
    at.run()
    assert "Your session expired after 5 minutes without activity" in texts(at)
    assert at.text_input(key="sign_in_password") is not None


# ─── Accounts as Supabase Auth keeps them: a second factor, a ban ───────────────────────────────


def _shows(at: AppTest, key: str) -> bool:
    return any(t.key == key for t in at.text_input)


def _code_step(at: AppTest, code: str) -> AppTest:
    at.text_input(key="sign_in_code").input(code)
    return next(b for b in at.button if b.label == "Verify").click().run()


def test_an_authenticator_app_account_is_asked_for_its_code_after_the_password(empty_db, engine):
    add_supabase_auth(engine)
    ada = make_user(engine, "admin", email="ada@example.com", password="the right password")
    totp = pyotp.TOTP(add_factor(engine, ada))
    at = _sign_in(_fresh().run(), "ada@example.com", "the right password")
    assert not at.exception
    assert "Signed in as" not in texts(at) and not _shows(at, "sign_in_password")
    assert "Signing in as ada@example.com" in texts(at)
    wrong = _code_step(at, str((int(totp.now()) + 500_000) % 1_000_000).zfill(6))
    assert _errors(wrong) == [session.WRONG_CODE]
    assert _shows(wrong, "sign_in_code")
    at = _code_step(wrong, totp.now())
    assert not at.exception
    assert "Signed in as ada@example.com · admin" in texts(at)
    with engine.connect() as conn:
        outcomes = conn.execute(sa.text("select outcome from dashboard.sign_in_attempts order by id")).scalars()
        assert list(outcomes) == ["success", "failure", "success"]  # the password's attempt counts once the code did


def test_the_code_step_can_be_left_for_the_password_form(empty_db, engine):
    add_supabase_auth(engine)
    add_factor(engine, make_user(engine, email="ada@example.com", password="the right password"))
    at = _sign_in(_fresh().run(), "ada@example.com", "the right password")
    at = at.button(key="sign_in_start_again").click().run()
    assert _shows(at, "sign_in_password") and not _shows(at, "sign_in_code")


def test_an_account_whose_code_cannot_be_checked_is_sent_to_single_sign_on(empty_db, engine):
    add_supabase_auth(engine)
    add_factor(
        engine,
        make_user(engine, email="ada@example.com", password="the right password"),
        secret='{"key_id": "k", "alg": "aes-gcm-hkdf", "data": "x", "nonce": "y"}',
    )
    at = _sign_in(_fresh().run(), "ada@example.com", "the right password")
    assert "This account cannot sign in here: it is protected by a second factor" in texts(at)
    assert "single sign-on" in texts(at)


def test_a_banned_account_is_told_so_only_with_its_right_password(empty_db, engine):
    add_supabase_auth(engine)
    gotrue_user(engine, "ada@example.com", password="the right password", banned_until="infinity")
    assert _errors(_sign_in(_fresh().run(), "ada@example.com", "not it")) == [session.WRONG_CREDENTIALS]
    at = _sign_in(_fresh().run(), "ada@example.com", "the right password")
    assert not at.exception
    assert "This account cannot sign in here: it is suspended" in texts(at)
    assert at.text_input(key="sign_in_password") is not None


def test_an_account_banned_while_signed_in_is_signed_out_on_the_next_click(empty_db, engine, signed_in):
    add_supabase_auth(engine)
    gotrue_user(engine, "ada@example.com", role="admin")
    at = signed_in("ada@example.com")
    assert "Signed in as ada@example.com · admin" in texts(at)
    with engine.begin() as conn:
        conn.execute(sa.text("update auth.users set banned_until = 'infinity' where email = 'ada@example.com'"))
    at.run()
    assert "You have been signed out. This account cannot sign in here: it is suspended" in texts(at)
    assert at.text_input(key="sign_in_password") is not None


def test_single_sign_on_refuses_a_banned_account_with_the_reason(empty_db, engine):
    add_supabase_auth(engine)
    gotrue_user(engine, "ada@example.com", banned_until="infinity")
    at = _fresh(auth={"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x" * 32})
    at.user.update({"email": "ada@example.com", "email_verified": True, "is_logged_in": True})
    at.run()
    assert not at.exception
    assert "This account cannot sign in here: it is suspended" in texts(at)
    assert "Signed in as" not in texts(at)


@pytest.mark.parametrize("verified", [None, False, "false", "", "yes"])
def test_single_sign_on_refuses_an_email_the_provider_did_not_verify(demo_db, verified):
    at = _fresh(auth={"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x" * 32})
    claims = {"email": "admin@example.com", "is_logged_in": True}
    if verified is not None:
        claims["email_verified"] = verified
    at.user.update(claims)
    at.run()
    assert "did not confirm that this email address is yours" in texts(at)
    assert "Signed in as" not in texts(at)
