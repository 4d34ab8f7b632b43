"""Signing in and out, and who is signed in: a session in the database, found from the browser's cookie on every run.

A sign-in (password, code or single sign-on) starts a session (dashboard/services/sessions.py) whose id this tab
keeps, and the tab goes straight on to its page. That page's first runs carry a small script that posts a
single-use code to /auth/session (dashboard/ui/auth_routes.py) in the background, which sets the HttpOnly session
cookie: no page load between the sign-in and the page. Every later page load, reload, typed URL or new tab of that
browser finds the session from the cookie. On every run the session is checked in the database (not expired, idle or
ended; the account not banned, deleted, given a new password or stripped of its admin role) and the person is read
again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import UUID

import streamlit as st
from sqlalchemy.engine import Engine

from dashboard.config import Settings
from dashboard.services import sessions
from dashboard.services.auth import (
    REFUSED_BANNED,
    CodeChallenge,
    Identity,
    SignInResult,
    load_identity,
    sign_in,
    single_sign_on,
    verify_code,
)
from dashboard.text import md_escape
from dashboard.ui.auth_routes import BROWSER_COOKIE, SESSION_COOKIE, SESSION_PATH, SIGNED_OUT_PATH
from dashboard.ui.feedback import flash

_SESSION = "_dashboard_session_id"  # the session this tab is signed in to (checked in the database every run)
# A user id put here without a session (by tests and benchmarks, which sign in without a browser) is taken
# into a session of its own on the next run.
_USER = "_dashboard_user_id"
_NOTICE_SHOWN = "_dashboard_session_notice_shown"  # the ended session whose reason this tab has said already
_HANDOFF = "_dashboard_cookie_handoff"  # a Handoff: this tab gives its session to the browser's cookie
_CHALLENGE = "_dashboard_code_challenge"  # a CodeChallenge: the password was right, a code is awaited
_SIGN_IN_SAID = "_dashboard_sign_in_said"  # why the last sign-in failed, said under the form once
_EMAIL, _PASSWORD = "sign_in_email", "sign_in_password"  # the sign-in form's fields
WRONG_CREDENTIALS = "Email or password is wrong."
MISSING_CREDENTIALS = "Enter your email and your password."
WRONG_CODE = "That code is not right. Type the 6-digit code your authenticator app shows now."
CODE_STEP_EXPIRED = "The sign-in took too long; type your email and password again."
CANNOT_SIGN_IN = "This account cannot sign in here: "
SIGNED_OUT = "You are signed out."


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return False


def _oidc_signed_in() -> bool:
    return oidc_configured() and getattr(st.user, "is_logged_in", False)


def ended_message(reason: str, settings: Settings) -> str:
    """Why the person is on the sign-in page, for a session that ended (a sessions.REASONS entry)."""
    minutes, hours = settings.idle_minutes, settings.session_hours
    return {
        sessions.IDLE: f"Your session expired after {minutes} minute{'' if minutes == 1 else 's'} without activity; "
        "sign in again.",
        sessions.EXPIRED: f"Your session ended {hours} hour{'' if hours == 1 else 's'} after you signed in, "
        "however active; sign in again.",
        sessions.SIGNED_OUT: "You signed out, in this tab or another one; sign in again to go on.",
        sessions.ENDED_BY_ADMIN: "An admin ended your session; sign in again.",
        sessions.PASSWORD_CHANGED: "Your password was changed, which ends every session; sign in with the new one.",
        sessions.BANNED: f"You have been signed out. {CANNOT_SIGN_IN}{REFUSED_BANNED}",
        sessions.DELETED: "Your account no longer exists; you have been signed out.",
        sessions.ROLE_REVOKED: "Your admin role was removed, which ends your sessions; sign in again.",
    }.get(reason, "Your session ended; sign in again.")


def request_cookie(name: str) -> str | None:
    """A cookie of the request that opened this tab's connection (read-only in a script); None without one."""
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no browser (AppTest) or no connection
        return None
    return value if isinstance(value, str) else None


def current_session_id() -> UUID | None:
    """The session this tab is signed in to (as of this run's check), for marking it in lists."""
    return st.session_state.get(_SESSION)


def _idle(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.idle_minutes)


def current_identity(engine: Engine, settings: Settings) -> Identity | None:
    """Who is signed in: the tab's session, else the cookie's, checked in the database on every run."""
    session_id = st.session_state.get(_SESSION)
    if session_id is None and st.session_state.get(_USER) is not None:
        session_id = _start_session(engine, settings, st.session_state[_USER], hand_off=False)
        if session_id is None:  # the account is gone, deleted or banned
            sign_out("You have been signed out: this account can no longer sign in here.")
            return None
    token = request_cookie(SESSION_COOKIE) if session_id is None else None
    if session_id is None and token is None:
        return _single_sign_on(engine, settings)
    check = sessions.check_session(engine, token=token, session_id=session_id, idle=_idle(settings))
    if check.identity is not None:
        st.session_state[_SESSION] = check.session_id
        st.session_state[_USER] = check.identity.user_id
        return check.identity
    if session_id is not None:  # this tab was signed in: say why it no longer is
        sign_out(ended_message(check.ended or sessions.SIGNED_OUT, settings), session_id=session_id)
        return None
    if check.ended is not None and st.session_state.get(_NOTICE_SHOWN) != check.session_id:
        st.session_state[_NOTICE_SHOWN] = check.session_id  # once per tab, not on every rerun of the form
        if check.ended != sessions.SIGNED_OUT:
            flash(ended_message(check.ended, settings), "info")
        if _oidc_signed_in():
            st.logout()  # or the identity provider's cookie would sign them straight back in
            st.stop()
    if check.ended is not None and _oidc_signed_in():
        return None
    return _single_sign_on(engine, settings) if check.ended is None else None


def _single_sign_on(engine: Engine, settings: Settings) -> Identity | None:
    """Someone signed in with the identity provider (st.login) and no session yet: start one for their account."""
    if not _oidc_signed_in():
        return None
    result = single_sign_on(engine, str(st.user.get("email", "")), email_verified=st.user.get("email_verified"))
    if result.user_id is None:
        if result.refused:
            st.error(md_escape(CANNOT_SIGN_IN + result.refused))
        else:
            st.error(md_escape(f"No account here for {st.user.get('email')}. Ask an admin to create one."))
        st.button("Sign out", on_click=st.logout)
        st.stop()
    session_id = _start_session(engine, settings, result.user_id, hand_off=True)
    if session_id is None:
        return None
    identity = load_identity(engine, result.user_id)
    return identity if identity is not None and not identity.refused else None


def _start_session(engine: Engine, settings: Settings, user_id: UUID, *, hand_off: bool) -> UUID | None:
    """Start a session for someone just signed in and keep it for this tab; with hand_off, give it to the browser's
    cookie too (when this browser has the cookie a handoff is bound to)."""
    try:
        agent = st.context.headers.get("User-Agent")
    except Exception:
        agent = None
    session_id = sessions.start_session(
        engine, user_id, lifetime=timedelta(hours=settings.session_hours), user_agent=agent, address=client_address()
    )
    if session_id is None:
        return None
    st.session_state[_SESSION] = session_id
    st.session_state[_USER] = user_id
    if hand_off:  # no code without a browser cookie to bind it to: the sign-in then holds for this tab only
        code = sessions.make_handoff(engine, session_id, request_cookie(BROWSER_COOKIE))
        if code is not None:  # posted by render_cookie_handoff
            st.session_state[_HANDOFF] = Handoff(code, time.monotonic())
    return session_id


@dataclass(frozen=True)
class Handoff:
    code: str
    made_at: float  # time.monotonic()


# Posts the code once per page (a rerun draws the element again; the guard keeps it to one request). keepalive: the
# request is sent even if the person closes the tab or follows a link at once.
_HANDOFF_SCRIPT = """<script>
(() => {
  const code = %(code)s;
  const sent = (window.__dashboardHandoffs = window.__dashboardHandoffs || new Set());
  if (sent.has(code)) return;
  sent.add(code);
  fetch(%(path)s, {method: 'POST', body: new URLSearchParams({code}), credentials: 'same-origin',
                   cache: 'no-store', keepalive: true}).catch(() => {});
})();
</script>"""


def handoff_script(code: str) -> str:
    """The script that trades code for the session cookie: code must be one of ours (URL-safe base64)."""
    if sessions.token_hash(code) is None:
        raise ValueError("not a handoff code")
    return _HANDOFF_SCRIPT % {"code": json.dumps(code), "path": json.dumps(SESSION_PATH)}


def render_cookie_handoff() -> None:
    """In each run while this tab's handoff code is valid, the script that trades it for the session cookie.

    Each run draws it again rather than once: a run cut short by a click may never send what it drew, and the
    script would be lost. The code is single-use; a second request for it is refused and does no harm.
    """
    handoff = st.session_state.get(_HANDOFF)
    if handoff is not None and time.monotonic() - handoff.made_at < sessions.HANDOFF_SECONDS:
        st.sidebar.html(handoff_script(handoff.code), unsafe_allow_javascript=True)


def navigate(url: str) -> None:
    """Send the browser to a URL of this site, a top-level navigation (as st.login and st.logout do)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    message = ForwardMsg()
    message.auth_redirect.url = url
    ctx.enqueue(message)


def sign_out(message: str = SIGNED_OUT, *, session_id: UUID | None = None) -> None:
    """Forget who is signed in in this tab (the caller ended the session in the database, or it had ended)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    # The URL's parameters were this person's view (a model, a usage range, filters): the next person to sign in
    # here must not inherit them.
    st.query_params.clear()
    if session_id is not None:
        st.session_state[_NOTICE_SHOWN] = session_id
    flash(message, "info")
    if _oidc_signed_in():
        st.logout()


def client_address() -> str | None:
    """The client's IP address as Streamlit's server saw it; None on localhost and without a browser.

    Behind a reverse proxy this is the proxy's address, unless the server is told to trust the proxy's
    X-Forwarded-For (see docs/production.md). Anything that is not an address counts as unknown.
    """
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def throttled_message(minutes: int) -> str:
    """The same words whether or not the account exists, and whichever limit was reached."""
    return f"Too many attempts; try again in {minutes} minute{'' if minutes == 1 else 's'}."


def render_sign_in(engine: Engine) -> None:
    """The sign-in form; on success the person is remembered in this browser session."""
    _, middle, _ = st.columns([1, 1.4, 1])
    with middle:
        _render_sign_in_form(engine)


def _render_sign_in_form(engine: Engine) -> None:
    st.title("Model catalogue")
    challenge = st.session_state.get(_CHALLENGE)
    if isinstance(challenge, CodeChallenge):
        _render_code_form(engine, challenge)
        return
    st.caption("Sign in to manage the models your platform routes jobs to.")
    with st.form("sign_in", clear_on_submit=False):
        st.text_input("Email", key=_EMAIL, autocomplete="username", max_chars=254)
        st.text_input("Password", type="password", key=_PASSWORD, max_chars=1024, autocomplete="current-password")
        st.form_submit_button("Sign in", type="primary", on_click=_submit_password, args=(engine,))
    said = st.session_state.pop(_SIGN_IN_SAID, None)
    if said:
        st.error(said)
    if oidc_configured():
        st.divider()
        st.button("Sign in with your identity provider", on_click=st.login)


def _submit_password(engine: Engine) -> None:
    """on_click of Sign in, before the run that follows: sign in, or keep what to say and empty the password field
    (a widget's value may be set only here, before it is drawn). Empty fields are said at once: nothing checked,
    no attempt counted. A success starts the session, and the run that follows draws the person's page."""
    email = st.session_state.get(_EMAIL) or ""
    password = st.session_state.get(_PASSWORD) or ""
    if not email.strip() or not password:
        st.session_state[_SIGN_IN_SAID] = MISSING_CREDENTIALS
        return
    result = sign_in(engine, email=email, password=password, address=client_address())
    if result.needs_code:
        st.session_state[_CHALLENGE] = result.challenge
        return
    said = _failure(result, WRONG_CREDENTIALS) or _start(engine, result.user_id)
    if said:
        st.session_state[_SIGN_IN_SAID] = said
        st.session_state[_PASSWORD] = ""


def _render_code_form(engine: Engine, challenge: CodeChallenge) -> None:
    """The second step for an account with an authenticator app: its 6-digit code."""
    st.caption(md_escape(f"Signing in as {challenge.email}. Your account uses an authenticator app."))
    with st.form("sign_in_code_form", clear_on_submit=True):
        code = st.text_input(
            "6-digit code from your authenticator app",
            key="sign_in_code",
            max_chars=12,
            autocomplete="one-time-code",
            placeholder="123456",
        )
        submitted = st.form_submit_button("Verify", type="primary")
    st.button("Start again", key="sign_in_start_again", on_click=_forget_challenge)
    if submitted:
        result = verify_code(engine, challenge, code=code, address=client_address())
        if result.expired or result.refused:
            _forget_challenge()  # back to the password form, which says why
            flash(CODE_STEP_EXPIRED if result.expired else CANNOT_SIGN_IN + str(result.refused), "error")
            st.rerun()
        said = _failure(result, WRONG_CODE) or _start(engine, result.user_id)
        if said:
            st.error(said)
        else:
            st.rerun()


def _forget_challenge() -> None:
    st.session_state.pop(_CHALLENGE, None)


def _failure(result: SignInResult, wrong: str) -> str | None:
    """Why the sign-in failed (throttled, refused although the password was right, or wrong), as markdown; or None."""
    if result.throttled:
        return throttled_message(result.retry_minutes)
    if result.refused:
        return md_escape(CANNOT_SIGN_IN + result.refused)
    if result.user_id is None:
        return wrong
    return None


def _start(engine: Engine, user_id: UUID) -> str | None:
    """Start the session of someone just signed in (the page's run gives it to the browser's cookie); or why not,
    as markdown."""
    from dashboard.ui.context import load_settings

    _forget_challenge()
    if _start_session(engine, load_settings(), user_id, hand_off=True) is None:
        return md_escape(CANNOT_SIGN_IN + REFUSED_BANNED)
    return None


# "View as a plain user": an id no account has and that holds no role, so RLS treats its requests as a
# plain signed-in user's, whatever the admin's own rights.
PLAIN_VIEWER_ID = UUID("00000000-0000-4000-8000-00000000f1e1")
_VIEW_AS_USER = "view_as_user"


def effective_identity(identity: Identity) -> Identity:
    """Who the pages act as: the person, or for an admin viewing as a plain user, a user with no role."""
    if identity.is_admin and st.session_state.get(_VIEW_AS_USER):
        return replace(identity, user_id=PLAIN_VIEWER_ID, is_admin=False)
    return identity


def render_account_box(identity: Identity) -> None:
    with st.sidebar:
        st.caption(md_escape(f"Signed in as {identity.email}" + (" · admin" if identity.is_admin else " · viewer")))
        if identity.is_admin:
            st.toggle(
                "View as a plain user",
                key=_VIEW_AS_USER,
                help=(
                    "Every page runs as a signed-in user with no role, so you see exactly what the database's "
                    "row-level security shows a non-admin (active models only), without signing out."
                ),
            )
            if st.session_state.get(_VIEW_AS_USER):
                st.info("You are viewing as a plain user. Turn this off to edit again.", icon=":material/visibility:")
        if st.button("Sign out", key="sign_out"):
            end_this_session()


def end_this_session() -> None:
    """Sign out: end the session in the database (every tab of this browser is signed out on its next run),
    then let the browser forget its cookie."""
    from dashboard.ui.context import get_engine, load_settings

    session_id = st.session_state.get(_SESSION)
    has_cookie = request_cookie(SESSION_COOKIE) is not None or _HANDOFF in st.session_state
    if session_id is not None:
        settings = load_settings()
        sessions.end_session(get_engine(settings.database_url, str(settings.data_dir)), session_id)
    sign_out(SIGNED_OUT, session_id=session_id)
    if has_cookie:
        # The browser loads the sign-in page afresh, without the cookie. Stop rather than rerun: a rerun clears
        # the messages not yet sent to the browser, and could drop this one (the cookie then stayed).
        navigate(SIGNED_OUT_PATH)
        st.stop()
    st.rerun()
