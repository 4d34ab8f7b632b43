"""The cookie routes of dashboard/ui/auth_routes.py, driven as ASGI (starlette's TestClient needs httpx2, which
is not installed here): the handoff, its CSRF binding, the cookie flags, hostile bodies, sign-out, the browser
cookie."""

import asyncio
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from dashboard.config import Settings
from dashboard.services import sessions
from dashboard.ui import auth_routes
from dashboard.ui.auth_routes import BROWSER_COOKIE, EXPIRED, SESSION_COOKIE, BrowserCookie
from tests.factories import make_user


@pytest.fixture
def app(engine, monkeypatch):
    settings = Settings(database_url="unused", data_dir=Path("unused"))
    monkeypatch.setattr(auth_routes, "_settings", lambda: settings)
    monkeypatch.setattr(auth_routes, "_engine", lambda _settings: engine)
    page = Route("/{path:path}", lambda request: HTMLResponse("<html>app</html>"))
    health = Route("/_stcore/health", lambda request: PlainTextResponse("ok"))
    return Starlette(
        routes=[*auth_routes.routes(), health, page], middleware=[Middleware(BrowserCookie, secure_always=False)]
    )


def request(app, path, *, cookies=None, headers=None, scheme="http", method="GET", body=b"", chunks=None):
    """(status, headers as a list of (name, value), body): a GET, or with method and body (or body in chunks) any
    other request."""
    path, _, query = path.partition("?")
    raw = [(b"host", b"dashboard.example")] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if cookies:
        raw.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": raw,
        "client": ("203.0.113.7", 1),
        "server": ("dashboard.example", 80),
        "root_path": "",
    }
    sent = []
    parts = list(chunks if chunks is not None else [body])

    async def receive():
        part = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], [(k.decode(), v.decode()) for k, v in start["headers"]], body.decode()


def set_cookies(headers):
    return [value for name, value in headers if name == "set-cookie"]


def header(headers, name):
    return next((value for key, value in headers if key == name), None)


def handoff(engine, browser, user_id):
    session_id = sessions.start_session(engine, user_id, lifetime=timedelta(hours=12))
    return session_id, sessions.make_handoff(engine, session_id, browser)


def post_code(app, body, **kwargs):
    return request(app, "/auth/session", method="POST", body=body, **kwargs)


def test_the_handoff_sets_an_httponly_lax_cookie_once(app, engine):
    ada = make_user(engine, email="ada@example.com")
    browser = sessions.new_token()
    session_id, code = handoff(engine, browser, ada)
    body = urlencode({"code": code}).encode()
    status, headers, _ = post_code(app, body, cookies={BROWSER_COOKIE: browser})
    assert status == 204 and header(headers, "location") is None
    assert header(headers, "cache-control") == "no-store" and header(headers, "referrer-policy") == "no-referrer"
    [cookie] = set_cookies(headers)
    parsed = SimpleCookie(cookie)[SESSION_COOKIE]
    assert parsed["httponly"] and parsed["samesite"] == "lax" and parsed["path"] == "/" and not parsed["secure"]
    assert 11 * 3600 < int(parsed["max-age"]) <= 12 * 3600
    check = sessions.check_session(engine, token=parsed.value, idle=timedelta(minutes=30))
    assert check.session_id == session_id and check.identity.user_id == ada
    # The same code again: used up.
    status, headers, text = post_code(app, body, cookies={BROWSER_COOKIE: browser})
    assert status == 400 and not set_cookies(headers) and text == EXPIRED


def test_a_handoff_code_from_another_browser_signs_nobody_in(app, engine):
    """Login CSRF: the attacker's own code, sent by a victim's browser, must not put the victim in the attacker's
    session (and a cross-site POST carries no SameSite=Lax browser cookie at all)."""
    attacker = make_user(engine, email="mallory@example.com")
    _, code = handoff(engine, sessions.new_token(), attacker)
    for cookies in ({}, {BROWSER_COOKIE: sessions.new_token()}, {BROWSER_COOKIE: ""}):
        status, headers, _ = post_code(app, urlencode({"code": code}).encode(), cookies=cookies)
        assert status == 400 and not set_cookies(headers)


def test_a_code_in_the_url_is_no_handoff(app, engine):
    """Only a POST's body is read: a link with a code in it (as an older version sent) sets nothing, uses nothing."""
    ada = make_user(engine, email="ada@example.com")
    browser = sessions.new_token()
    _, code = handoff(engine, browser, ada)
    for method in ("GET", "POST"):
        _, headers, _ = request(app, f"/auth/session?code={code}", method=method, cookies={BROWSER_COOKIE: browser})
        assert SESSION_COOKIE not in "".join(set_cookies(headers))
    status, headers, _ = post_code(app, urlencode({"code": code}).encode(), cookies={BROWSER_COOKIE: browser})
    assert status == 204 and set_cookies(headers)  # still unused


@pytest.mark.parametrize(
    "chunks",
    [
        [b""],
        [b"code="],
        [b"code"],
        [b"nonsense"],
        ["code=caf\u00e9".encode()],
        [b"code=\xff\xfe"],
        [b"code=%s&code=%s"],
        [b"code=%s&a=1&b=2"],
        [b"code=%s&" + b"x" * 300],
        [b"code=%s", b"&" + b"y" * 10_000_000],  # a long body: the route stops reading
        [b"code=' or 1=1 --"],
        [b"code=%s\x00"],
    ],
)
def test_hostile_bodies_set_no_cookie_and_use_no_code(app, engine, chunks):
    ada = make_user(engine, email="ada@example.com")
    browser = sessions.new_token()
    _, code = handoff(engine, browser, ada)
    chunks = [chunk.replace(b"%s", code.encode()) for chunk in chunks]
    status, headers, _ = request(app, "/auth/session", method="POST", chunks=chunks, cookies={BROWSER_COOKIE: browser})
    assert status == 400 and not set_cookies(headers)
    if any(code.encode() in chunk for chunk in chunks):
        return  # what the route read may have been the code: either way nothing was set
    status, _, _ = post_code(app, urlencode({"code": code}).encode(), cookies={BROWSER_COOKIE: browser})
    assert status == 204


def test_the_cookie_is_secure_over_https_or_behind_a_proxy_that_says_so(app, engine):
    ada = make_user(engine, email="ada@example.com")
    for kwargs in ({"scheme": "https"}, {"headers": {"X-Forwarded-Proto": "https"}}):
        browser = sessions.new_token()
        _, code = handoff(engine, browser, ada)
        _, headers, _ = post_code(app, urlencode({"code": code}).encode(), cookies={BROWSER_COOKIE: browser}, **kwargs)
        assert SimpleCookie(set_cookies(headers)[0])[SESSION_COOKIE]["secure"]


def test_signed_out_clears_only_an_ended_sessions_cookie(app, engine):
    ada = make_user(engine, email="ada@example.com")
    browser = sessions.new_token()
    session_id, code = handoff(engine, browser, ada)
    token = sessions.redeem_handoff(engine, code, browser).token
    # A link from another site while the session is live: the cookie stays.
    status, headers, _ = request(app, "/auth/signed-out", cookies={SESSION_COOKIE: token})
    assert status == 303 and header(headers, "location") == "/" and not set_cookies(headers)
    assert sessions.check_session(engine, token=token, idle=timedelta(minutes=30)).identity is not None
    sessions.end_session(engine, session_id)
    status, headers, _ = request(app, "/auth/signed-out", cookies={SESSION_COOKIE: token})
    [cleared] = set_cookies(headers)
    assert cleared.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in cleared and "HttpOnly" in cleared
    _, headers, _ = request(app, "/auth/signed-out", cookies={SESSION_COOKIE: "' or 1=1 --"})
    assert set_cookies(headers)  # not a token at all: cleared too


def test_the_first_page_gives_the_browser_its_cookie_once(app):
    status, headers, _ = request(app, "/models")
    [cookie] = set_cookies(headers)
    parsed = SimpleCookie(cookie)[BROWSER_COOKIE]
    assert status == 200 and parsed["httponly"] and parsed["samesite"] == "Lax" and parsed["path"] == "/"
    assert sessions.token_hash(parsed.value) is not None
    _, headers, _ = request(app, "/models", cookies={BROWSER_COOKIE: parsed.value})
    assert not set_cookies(headers)
    _, headers, _ = request(app, "/models", cookies={BROWSER_COOKIE: "not one of ours"})
    assert set_cookies(headers)  # replaced
    _, headers, _ = request(app, "/_stcore/health")
    assert not set_cookies(headers)
    _, headers, _ = request(app, "/models", headers={"Cookie": 'bad"cookie\\'})
    assert set_cookies(headers)
