"""Sessions in the app (AppTest): the identity comes from the cookie's session, sign-in lands at once and hands the
session to the cookie route from the page, sign-out ends the session, ended sessions say why, and the admins'
Sessions page.

AppTest cannot send cookies (st.context.cookies comes from the browser's connection), so the tests stand in for
the browser at dashboard.ui.session.request_cookie, the one place the app reads them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.config import Settings
from dashboard.services import sessions
from dashboard.services.auth import load_identity
from dashboard.ui import session as ui_session
from dashboard.ui.auth_routes import BROWSER_COOKIE, SESSION_COOKIE
from dashboard.ui.context import Context
from tests.app.conftest import APP, texts, user_id
from tests.conftest import REPO


@pytest.fixture
def cookies(monkeypatch):
    """The browser's cookies as the app will read them; fill in the dict."""
    jar: dict[str, str] = {}
    monkeypatch.setattr(ui_session, "request_cookie", lambda name: jar.get(name))
    return jar


def _token_for(engine, email: str, browser: str | None = None) -> tuple:
    """(session id, token): a session started and handed to a browser, as the sign-in and the route do."""
    browser = browser or sessions.new_token()
    session_id = sessions.start_session(engine, user_id(engine, email), lifetime=timedelta(hours=12))
    code = sessions.make_handoff(engine, session_id, browser)
    return session_id, sessions.redeem_handoff(engine, code, browser).token


def _fresh() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30)


def test_a_new_tab_with_the_cookie_is_signed_in(demo_db, engine, cookies):
    _, cookies[SESSION_COOKIE] = _token_for(engine, "viewer@example.com")
    at = _fresh().run()
    assert not at.exception
    assert "Signed in as viewer@example.com · viewer" in texts(at)
    at.run()  # and every later run checks it again
    assert "Signed in as viewer@example.com · viewer" in texts(at)


@pytest.mark.parametrize(
    "value", ["", "x" * 100_000, "é" * 43, "' or 1=1 --", "A" * 43, "%00", "\x00" * 43, "null", "undefined"]
)
def test_a_hostile_cookie_is_nobody(demo_db, engine, cookies, value):
    _token_for(engine, "admin@example.com")
    cookies[SESSION_COOKIE] = value
    at = _fresh().run()
    assert not at.exception
    assert at.text_input(key="sign_in_password") is not None
    assert "Signed in" not in texts(at)


def test_another_users_stored_hash_is_not_a_cookie(demo_db, engine, cookies):
    session_id, _ = _token_for(engine, "admin@example.com")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select token_hash from dashboard.sessions where id = :i"), {"i": session_id})
        cookies[SESSION_COOKIE] = bytes(stored.scalar_one()).hex()
    at = _fresh().run()
    assert at.text_input(key="sign_in_password") is not None


def test_an_expired_cookie_session_says_why_once(demo_db, engine, cookies):
    session_id, cookies[SESSION_COOKIE] = _token_for(engine, "viewer@example.com")
    with engine.begin() as conn:
        conn.execute(sa.text("update dashboard.sessions set last_seen_at = now() - interval '31 minutes'"))
    at = _fresh().run()
    assert "Your session expired after 30 minutes without activity; sign in again." in texts(at)
    assert at.text_input(key="sign_in_password") is not None
    at.run()  # a rerun of the form does not say it again
    assert "Your session expired" not in texts(at)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("update dashboard.sessions set expires_at = now() - interval '1 second'", "hours after you signed in"),
        (
            "update auth.users set encrypted_password = 'changed' where email = 'viewer@example.com'",
            "Your password was changed",
        ),
        (
            "select dashboard.session_end_user(id, 'ended_by_admin') from auth.users "
            "where email = 'viewer@example.com'",
            "An admin ended your session",
        ),
    ],
)
def test_a_signed_in_tab_is_signed_out_on_its_next_click_and_told_why(demo_db, engine, cookies, change, message):
    _, cookies[SESSION_COOKIE] = _token_for(engine, "viewer@example.com")
    at = _fresh().run()
    assert "Signed in as viewer@example.com" in texts(at)
    with engine.begin() as conn:
        conn.execute(sa.text(change))
    at.run()
    assert message in texts(at)
    assert at.text_input(key="sign_in_password") is not None


def _handoff_scripts(at) -> list[str]:
    return [element.proto.body for element in at.get("html") if "/auth/session" in element.proto.body]


def test_signing_in_lands_at_once_and_hands_the_session_to_this_browser(empty_db, engine, cookies, monkeypatch):
    from tests.factories import make_user

    ada = make_user(engine, "admin", email="ada@example.com", password="the right password")
    cookies[BROWSER_COOKIE] = browser = sessions.new_token()
    at = _fresh().run()
    at.text_input(key="sign_in_email").input("ada@example.com")
    at.text_input(key="sign_in_password").input("the right password")
    at.button[0].click().run()
    assert not at.exception
    assert "Signed in as ada@example.com · admin" in texts(at)  # on the page, no page load in between
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""
            select s.id, s.user_id, s.token_hash, h.browser_hash from dashboard.sessions s
            join dashboard.session_handoffs h on h.session_id = s.id
        """)
        ).one()
    assert row.user_id == ada and row.token_hash is None and bytes(row.browser_hash) == sessions.token_hash(browser)
    assert at.session_state["_dashboard_session_id"] == row.id
    # The page carries the script that trades the code for the cookie, on every run while the code is valid.
    code = at.session_state["_dashboard_cookie_handoff"].code
    assert _handoff_scripts(at) == [ui_session.handoff_script(code)]
    assert f'"{code}"' in _handoff_scripts(at.run())[0]
    assert sessions.redeem_handoff(engine, code, browser) is not None  # what the script's request does
    later = ui_session.time.monotonic() + sessions.HANDOFF_SECONDS
    monkeypatch.setattr(ui_session.time, "monotonic", lambda: later)
    assert _handoff_scripts(at.run()) == []


@pytest.mark.parametrize("code", ["", "</script><script>alert(1)</script>", "a" * 31, "é" * 43, None])
def test_the_handoff_script_takes_only_a_code_of_ours(code):
    with pytest.raises(ValueError):
        ui_session.handoff_script(code)


def test_signing_out_after_a_handoff_clears_the_cookie_this_tab_gave(empty_db, engine, cookies, monkeypatch):
    """The tab's connection opened before the cookie existed, so it cannot see it: it knows it gave it."""
    from tests.factories import make_user

    make_user(engine, "admin", email="ada@example.com", password="the right password")
    cookies[BROWSER_COOKIE] = sessions.new_token()
    sent_to: list[str] = []
    monkeypatch.setattr(ui_session, "navigate", sent_to.append)
    at = _fresh().run()
    at.text_input(key="sign_in_email").input("ada@example.com")
    at.text_input(key="sign_in_password").input("the right password")
    at.button[0].click().run()
    at.button(key="sign_out").click().run()
    assert sent_to == ["/auth/signed-out"]


def test_without_a_browser_cookie_the_sign_in_holds_for_this_tab(empty_db, engine, cookies):
    from tests.factories import make_user

    make_user(engine, "admin", email="ada@example.com", password="the right password")
    at = _fresh().run()
    at.text_input(key="sign_in_email").input("ada@example.com")
    at.text_input(key="sign_in_password").input("the right password")
    at.button[0].click().run()
    assert "Signed in as ada@example.com · admin" in texts(at)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from dashboard.sessions where ended_at is null")).scalar() == 1


def test_sign_out_ends_the_session_for_every_tab(demo_db, engine, cookies):
    session_id, cookies[SESSION_COOKIE] = _token_for(engine, "viewer@example.com")
    first, second = _fresh().run(), _fresh().run()
    first.button(key="sign_out").click().run()  # ends the session, sends the browser to clear its cookie, stops
    first.run()  # what the tab shows next (the browser would load the sign-in page afresh)
    assert "You are signed out." in texts(first)
    assert first.text_input(key="sign_in_password") is not None
    with engine.connect() as conn:
        reason = conn.execute(sa.text("select ended_reason from dashboard.sessions where id = :i"), {"i": session_id})
        assert reason.scalar_one() == sessions.SIGNED_OUT
    second.run()  # the other tab's next click
    assert "You signed out, in this tab or another one" in texts(second)
    assert second.text_input(key="sign_in_password") is not None


SESSIONS_PAGE = str(REPO / "pages" / "sessions.py")


def _sessions_page(engine, db_url, email: str) -> AppTest:
    at = AppTest.from_file(SESSIONS_PAGE, default_timeout=30)
    identity = load_identity(engine, user_id(engine, email))
    settings = Settings(database_url=db_url, data_dir=Path("unused"))
    at.session_state["_dashboard_context"] = Context(
        engine=engine, identity=identity, data_version=(0, True), settings=settings
    )
    return at.run()


def test_an_admin_sees_and_ends_sessions(demo_db, engine, db_url):
    viewer_session, _ = _token_for(engine, "viewer@example.com")
    _token_for(engine, "viewer@example.com")
    with engine.begin() as conn:
        conn.execute(
            sa.text("update dashboard.sessions set user_agent = :ua"),
            {"ua": "**bold** [link](https://evil.example) \u202egnp.exe"},
        )
    at = _sessions_page(engine, db_url, "admin@example.com")
    assert not at.exception
    frame = at.dataframe[0].value
    assert list(frame["Person"]) == ["viewer@example.com", "viewer@example.com"]
    assert "\u202e" not in frame["Device"][0]  # hidden characters are shown as escapes
    at.selectbox(key="sessions_pick").set_value(viewer_session).run()
    at.button(key="sessions_end_one").click().run()  # the entrypoint shows the flash; this page alone does not
    assert len(at.dataframe[0].value) == 1
    at.button(key="sessions_end_all").click().run()
    assert "No live sessions." in texts(at)
    with engine.connect() as conn:
        reasons = conn.execute(sa.text("select ended_reason from dashboard.sessions")).scalars().all()
    assert reasons == [sessions.ENDED_BY_ADMIN] * 2


def test_a_viewer_cannot_open_the_sessions_page(demo_db, engine, db_url):
    _token_for(engine, "admin@example.com")
    at = _sessions_page(engine, db_url, "viewer@example.com")
    assert "Only admins can use this page" in texts(at)
    assert not at.dataframe
