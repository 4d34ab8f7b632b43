"""Sessions in a real browser: a reload and a new tab stay signed in, sign-out in one tab signs the others out on
their next action, an idle session says why it ended, and the cookie is HttpOnly."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa

from tests.browser.conftest import go_to, sign_in, wait_idle

pytestmark = pytest.mark.browser
VIEWER = "viewer@example.com"


def _signed_in_as(page, email: str) -> bool:
    name, domain = email.split("@")
    return page.get_by_text(re.compile(f"Signed in as {re.escape(name)}@\u2060?{re.escape(domain)}")).count() > 0


def _after_sign_in(page) -> None:
    """Until the page is shown and the background request has given the browser its session cookie."""
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    wait_idle(page)
    deadline = time.monotonic() + 15
    while "dashboard_session" not in {c["name"] for c in page.context.cookies()} and time.monotonic() < deadline:
        page.wait_for_timeout(50)


def _sign_in_form(page) -> bool:
    return page.get_by_role("textbox", name="Password").count() > 0


def test_reload_and_a_new_tab_stay_signed_in_and_sign_out_reaches_every_tab(browser_page, app_server, engine):
    page = browser_page
    loads = []
    page.on("framenavigated", lambda frame: loads.append(frame.url) if frame == page.main_frame else None)
    sign_in(page, app_server, VIEWER, "/defaults")
    _after_sign_in(page)
    assert _signed_in_as(page, VIEWER) and page.url.endswith("/defaults")  # where the person was going
    assert len(loads) == 1  # the page that showed the form: signing in loaded no other

    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["dashboard_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"
    readable = page.evaluate("document.cookie")  # neither of ours is readable by scripts (Streamlit's xsrf one is)
    assert "dashboard_session" not in readable and "dashboard_browser" not in readable
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select encode(token_hash, 'hex') from dashboard.sessions")).scalars().all()
    assert len(stored) == 1 and session["value"] not in stored[0]

    page.reload()
    wait_idle(page)
    assert _signed_in_as(page, VIEWER)

    other = page.context.new_page()
    other.goto(app_server.url + "/defaults")  # a typed URL in a new tab
    wait_idle(other)
    assert _signed_in_as(other, VIEWER)

    page.get_by_role("button", name="Sign out").click()
    # The app then sends the browser to the route that clears the cookie: wait for that navigation, not a guess.
    deadline = time.monotonic() + 15
    while "dashboard_session" in {c["name"] for c in page.context.cookies()} and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    wait_idle(page)
    assert _sign_in_form(page)
    assert "dashboard_session" not in {c["name"] for c in page.context.cookies()}

    other.bring_to_front()
    go_to(other, "Models")  # the other tab's next action
    assert _sign_in_form(other)
    assert other.get_by_text("You signed out, in this tab or another one").count() == 1
    other.reload()
    wait_idle(other)
    assert _sign_in_form(other)


def test_an_idle_session_says_why_it_ended(browser_page, app_server, engine):
    page = browser_page
    sign_in(page, app_server, VIEWER)
    _after_sign_in(page)
    assert _signed_in_as(page, VIEWER)
    with engine.begin() as conn:
        conn.execute(sa.text("update dashboard.sessions set last_seen_at = now() - interval '31 minutes'"))
    page.reload()
    wait_idle(page)
    assert _sign_in_form(page)
    assert page.get_by_text("Your session expired after 30 minutes without activity; sign in again.").count() == 1
    sign_in(page, app_server, VIEWER)  # and signing in again works
    _after_sign_in(page)
    assert _signed_in_as(page, VIEWER)


def test_a_handoff_link_from_someone_else_signs_nobody_in(browser_page, app_server):
    page = browser_page
    page.goto(app_server.url + "/auth/session?code=" + "A" * 43 + "&next=https://evil.example/")
    assert page.url.startswith(app_server.url + "/")  # still this site: nothing redirects anywhere
    assert "dashboard_session" not in {c["name"] for c in page.context.cookies()}


def test_a_wrong_password_is_typed_again_with_the_email_kept(browser_page, app_server):
    """The field a browser shows is emptied too (set in the button's callback), and an empty form asks for both."""
    page = browser_page
    page.goto(app_server.url + "/")
    wait_idle(page)
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page)
    assert page.get_by_text("Enter your email and your password.").is_visible()
    page.get_by_label("Email").fill(VIEWER)
    page.get_by_role("textbox", name="Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page)
    assert page.get_by_text("Email or password is wrong.").is_visible()
    assert page.get_by_role("textbox", name="Password").input_value() == ""
    assert page.get_by_label("Email").input_value() == VIEWER
    page.get_by_role("textbox", name="Password").fill(app_server.passwords[VIEWER])
    page.get_by_role("button", name="Sign in").click()
    _after_sign_in(page)
    assert _signed_in_as(page, VIEWER)
