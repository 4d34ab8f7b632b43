"""The web server's part of sessions: the routes that set and clear the HttpOnly cookies a Streamlit script cannot.

Served beside the app by dashboard/ui/server.py. Two cookies, both HttpOnly, SameSite=Lax, Path=/, and Secure
when the request came over HTTPS (the scheme, or X-Forwarded-Proto from a proxy) or DASHBOARD_SECURE_COOKIES is
on:

- BROWSER_COOKIE, a random value set by `BrowserCookie` on the first page a browser loads. It never signs anyone
  in; it says which browser a tab runs in, so that a handoff code works only in the browser that signed in.
- SESSION_COOKIE, the session's token (dashboard/services/sessions.py), set by POST /auth/session (body code=...)
  when the code is unused, under a minute old, and made for this browser's BROWSER_COOKIE. The signed-in tab
  sends it in the background. A code that leaks cannot sign another browser into the session it was made for:
  that is what keeps an attacker from signing a victim into the attacker's own account.

GET /auth/signed-out clears SESSION_COOKIE once its session has ended (the app ended it first): a link from
another site cannot sign anyone out.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from dashboard.services import sessions

SESSION_COOKIE = "dashboard_session"
BROWSER_COOKIE = "dashboard_browser"
SESSION_PATH = "/auth/session"
SIGNED_OUT_PATH = "/auth/signed-out"
_MAX_BODY = 200  # code=<43 characters>, with room for the encoding
_NOT_HTML_PREFIXES = ("/_stcore/", "/static/", "/media/", "/component/", "/auth/", "/oauth2callback")
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
EXPIRED = "This sign-in code has expired, was already used, or came from another browser than the one that signed in."


def is_https(scheme: str | None, headers: dict[str, str]) -> bool:
    """Whether the browser reached us over HTTPS: directly, or through a proxy that says so.

    Trusting X-Forwarded-Proto here can only add the Secure flag: someone who sends it over plain HTTP only
    keeps their own browser from sending the cookie back.
    """
    forwarded = (headers.get("x-forwarded-proto") or "").split(",", 1)[0].strip().lower()
    return scheme in ("https", "wss") or forwarded == "https"


def _settings():
    from dashboard.ui.context import load_settings

    return load_settings()


def _engine(settings):
    from dashboard.ui.context import get_engine

    return get_engine(settings.database_url, str(settings.data_dir))


def _secure(request: Request, settings) -> bool:
    return settings.secure_cookies or is_https(request.url.scheme, dict(request.headers))


async def exchange_handoff(request: Request) -> Response:
    """POST /auth/session, body code=...: the handoff code for the session cookie; 204, or 400 and no cookie.

    The signed-in tab's page sends it in the background (dashboard/ui/session.py), so the person lands on their
    page at once, with no page load. A POST keeps the code out of URLs (history, logs, Referer), and the browser
    cookie it must come with is SameSite=Lax, which a cross-site POST does not carry.
    """
    code = await _form_code(request)
    browser = request.cookies.get(BROWSER_COOKIE)
    settings = _settings()
    redeemed = None
    if sessions.token_hash(code) is not None and sessions.token_hash(browser) is not None:
        redeemed = await run_in_threadpool(sessions.redeem_handoff, _engine(settings), code, browser)
    if redeemed is None:
        return PlainTextResponse(EXPIRED, status_code=400, headers=_NO_STORE)
    response = Response(status_code=204, headers=_NO_STORE)
    max_age = max(0, int((redeemed.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        redeemed.token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
    )
    return response


async def _form_code(request: Request) -> str | None:
    """The code of a form body (code=...), read up to _MAX_BODY bytes: None for anything longer or unreadable."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            return None
    try:
        values = parse_qs(body.decode("ascii"), max_num_fields=2, strict_parsing=True).get("code", [])
    except ValueError:  # not ASCII, not a form, or too many fields
        return None
    return values[0] if len(values) == 1 else None


async def signed_out(request: Request) -> Response:
    """GET /auth/signed-out: forget the session cookie once its session has ended, then the sign-in page."""
    response = RedirectResponse("/", status_code=303, headers=_NO_STORE)
    token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        return response
    settings = _settings()
    check = None
    if sessions.token_hash(token) is not None:
        check = await run_in_threadpool(
            sessions.check_session, _engine(settings), token=token, idle=timedelta(minutes=settings.idle_minutes)
        )
    if check is None or check.identity is None:  # ended, unknown, or not a token at all
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, settings)
        )
    return response


def routes() -> list[Route]:
    return [
        Route(SESSION_PATH, exchange_handoff, methods=["POST"]),
        Route(SIGNED_OUT_PATH, signed_out, methods=["GET"]),
    ]


class BrowserCookie:
    """ASGI middleware: gives a browser that has none a random BROWSER_COOKIE with the first page it loads."""

    def __init__(self, app, *, secure_always: bool | None = None) -> None:
        self.app = app
        self.secure_always = secure_always

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].startswith(_NOT_HTML_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # http.cookies.CookieError on a malformed header: treat as none
            cookies = SimpleCookie()
        if sessions.token_hash(cookies[BROWSER_COOKIE].value if BROWSER_COOKIE in cookies else None) is not None:
            await self.app(scope, receive, send)
            return
        secure = self.secure_always if self.secure_always is not None else _settings().secure_cookies
        secure = secure or is_https(scope.get("scheme"), headers)
        cookie = f"{BROWSER_COOKIE}={secrets.token_urlsafe(32)}; Path=/; HttpOnly; SameSite=Lax" + (
            "; Secure" if secure else ""
        )

        async def send_with_cookie(message) -> None:
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers") or []).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
