"""Signing in and out, the idle timeout, and who is signed in, asked of the database on every run."""

from __future__ import annotations

import time
from dataclasses import replace
from uuid import UUID

import streamlit as st
from sqlalchemy.engine import Engine

from dashboard.config import Settings
from dashboard.services.auth import (
    CodeChallenge,
    Identity,
    SignInResult,
    load_identity,
    sign_in,
    single_sign_on,
    verify_code,
)
from dashboard.text import md_escape
from dashboard.ui.feedback import flash

_USER = "_dashboard_user_id"
_SEEN = "_dashboard_last_seen"
_CHALLENGE = "_dashboard_code_challenge"  # a CodeChallenge: the password was right, a code is awaited
WRONG_CREDENTIALS = "Email or password is wrong."
WRONG_CODE = "That code is not right. Type the 6-digit code your authenticator app shows now."
CODE_STEP_EXPIRED = "The sign-in took too long; type your email and password again."
CANNOT_SIGN_IN = "This account cannot sign in here: "


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return False


def current_identity(engine: Engine, settings: Settings) -> Identity | None:
    """Who is signed in, re-read from the database on every run so that a revoked role bites at once."""
    user_id = st.session_state.get(_USER)
    if user_id is None and oidc_configured() and getattr(st.user, "is_logged_in", False):
        result = single_sign_on(engine, str(st.user.get("email", "")), email_verified=st.user.get("email_verified"))
        if result.user_id is None:
            if result.refused:
                st.error(md_escape(CANNOT_SIGN_IN + result.refused))
            else:
                st.error(md_escape(f"No account here for {st.user.get('email')}. Ask an admin to create one."))
            st.button("Sign out", on_click=st.logout)
            st.stop()
        user_id = result.user_id
        _start(user_id)
    if user_id is None:
        return None
    if time.time() - st.session_state.get(_SEEN, 0) > settings.idle_minutes * 60:
        sign_out(f"You were signed out after {settings.idle_minutes} minutes without activity.")
        return None
    identity = load_identity(engine, user_id)
    if identity is None:
        sign_out("Your account no longer exists; you have been signed out.")
        return None
    if identity.refused:
        sign_out(f"You have been signed out. {CANNOT_SIGN_IN}{identity.refused}")
        return None
    st.session_state[_SEEN] = time.time()
    return identity


def _start(user_id: UUID) -> None:
    st.session_state[_USER] = user_id
    st.session_state[_SEEN] = time.time()


def sign_out(message: str = "You are signed out.") -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    flash(message, "info")
    if oidc_configured() and getattr(st.user, "is_logged_in", False):
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
        email = st.text_input("Email", key="sign_in_email", autocomplete="email", max_chars=254)
        password = st.text_input("Password", type="password", key="sign_in_password", max_chars=1024)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        result = sign_in(engine, email=email, password=password, address=client_address())
        if result.needs_code:
            st.session_state[_CHALLENGE] = result.challenge
            st.rerun()
        _show_result(result, WRONG_CREDENTIALS)
    if oidc_configured():
        st.divider()
        st.button("Sign in with your identity provider", on_click=st.login)


def _render_code_form(engine: Engine, challenge: CodeChallenge) -> None:
    """The second step for an account with an authenticator app: its 6-digit code."""
    st.caption(md_escape(f"Signing in as {challenge.email}. Your account uses an authenticator app."))
    with st.form("sign_in_code_form", clear_on_submit=True):
        code = st.text_input("6-digit code from your authenticator app", key="sign_in_code", max_chars=12,
                             autocomplete="one-time-code", placeholder="123456")  # fmt: skip
        submitted = st.form_submit_button("Verify", type="primary")
    st.button("Start again", key="sign_in_start_again", on_click=_forget_challenge)
    if submitted:
        result = verify_code(engine, challenge, code=code, address=client_address())
        if result.expired or result.refused:
            _forget_challenge()  # back to the password form, which says why
            flash(CODE_STEP_EXPIRED if result.expired else CANNOT_SIGN_IN + str(result.refused), "error")
            st.rerun()
        _show_result(result, WRONG_CODE)


def _forget_challenge() -> None:
    st.session_state.pop(_CHALLENGE, None)


def _show_result(result: SignInResult, wrong: str) -> None:
    """Sign in, or say why not: throttled, refused (the password was right), or wrong."""
    if result.throttled:
        st.error(throttled_message(result.retry_minutes))
    elif result.refused:
        st.error(md_escape(CANNOT_SIGN_IN + result.refused))
    elif result.user_id is None:
        st.error(wrong)
    else:
        _forget_challenge()
        _start(result.user_id)
        st.rerun()


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
            st.toggle("View as a plain user", key=_VIEW_AS_USER, help=(
                "Every page runs as a signed-in user with no role, so you see exactly what the database's "
                "row-level security shows a non-admin (active models only), without signing out."))  # fmt: skip
            if st.session_state.get(_VIEW_AS_USER):
                st.info("You are viewing as a plain user. Turn this off to edit again.", icon=":material/visibility:")
        if st.button("Sign out", key="sign_out"):
            sign_out()
            st.rerun()
