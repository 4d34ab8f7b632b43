"""Sessions that survive a reload: a random token in an HttpOnly cookie, only its sha256 in the database.

The tables and functions are migration 0014's; nobody's role may read them, so everything here runs as the
server's login role, like signing in. How a session reaches the browser:

1. The person signs in in the Streamlit form (password, code, single sign-on). The script calls
   start_session(), keeps the session's id for this tab, and make_handoff() a single-use code, kept hashed for
   HANDOFF_SECONDS and bound to the browser cookie of that tab (see dashboard/ui/auth_routes.py).
2. The tab goes on to its page, which posts the code to /auth/session in the background; the route calls
   redeem_handoff(), which trades the code, from that same browser only, for a new random token, and sets it as
   the cookie.
3. Every later run, in any tab of that browser, reads the cookie and calls check_session().

An admin sees and ends sessions through SessionAdmin, which first asks the database, as the admin, whether
they are one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.engine import Engine

from dashboard.queries import sessions as sessions_q
from dashboard.services.auth import REFUSED_DELETED, Identity, load_identity
from dashboard.services.errors import NotAllowed

HANDOFF_SECONDS = 60
TOKEN_BYTES = 32
MAX_USER_AGENT = 300
# What a token or code from secrets.token_urlsafe(32) looks like: 43 characters of the URL-safe alphabet. Anything
# else in a cookie or a URL is refused before it is hashed or sent to the database.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")

ACTIVE = "active"
SIGNED_OUT = "signed_out"
ENDED_BY_ADMIN = "ended_by_admin"
PASSWORD_CHANGED = "password_changed"
BANNED = "banned"
DELETED = "deleted"
ROLE_REVOKED = "role_revoked"  # a session begun as an admin ends when the role goes (every session of theirs)
IDLE = "idle"
EXPIRED = "expired"
REASONS = (SIGNED_OUT, ENDED_BY_ADMIN, PASSWORD_CHANGED, BANNED, DELETED, ROLE_REVOKED, IDLE, EXPIRED)


def new_token() -> str:
    """A session token or handoff code: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: object) -> bytes | None:
    """The sha256 kept for a token, or None for anything that cannot be one of ours (empty, huge, not ASCII...)."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    return hashlib.sha256(token.encode("ascii")).digest()


def clean_user_agent(user_agent: object) -> str | None:
    """The User-Agent as kept: printable, at most MAX_USER_AGENT characters; None when there is none."""
    if not isinstance(user_agent, str):
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in user_agent).strip()
    text = text.encode("utf-8", "replace").decode("utf-8")[:MAX_USER_AGENT]
    return text or None


def clean_address(address: object) -> str | None:
    """The client address as kept: a valid IP address, else None."""
    if not isinstance(address, str) or not address or len(address) > 64:
        return None
    try:
        return str(ipaddress.ip_address(address.strip().split("%", 1)[0]))
    except ValueError:
        return None


@dataclass(frozen=True)
class SessionCheck:
    """A session as it is now: identity while it is active, else ended says why (a REASONS entry).

    Neither (both None) when there is no such session: a cookie that was never ours, or one pruned long ago.
    """

    session_id: UUID | None = None
    identity: Identity | None = None
    ended: str | None = None


@dataclass(frozen=True)
class SessionRow:
    id: UUID
    user_id: UUID
    email: str | None
    user_agent: str | None
    address: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_reason: str | None


def start_session(
    engine: Engine, user_id: UUID, *, lifetime: timedelta, user_agent: object = None, address: object = None
) -> UUID | None:
    """Start a session for someone just signed in; its id, or None when the account may not sign in now."""
    with engine.begin() as conn:
        return conn.execute(
            sessions_q.START,
            {
                "user_id": user_id,
                "user_agent": clean_user_agent(user_agent),
                "address": clean_address(address),
                "lifetime": lifetime,
            },
        ).scalar()


def make_handoff(engine: Engine, session_id: UUID, browser: object) -> str | None:
    """A single-use code that gives this session's cookie to the browser holding the cookie value browser.

    None when the browser has no usable cookie, or the session is not live or already has its token.
    """
    browser_hash = token_hash(browser)
    if browser_hash is None:
        return None
    code = new_token()
    with engine.begin() as conn:
        made = conn.execute(
            sessions_q.HANDOFF,
            {
                "session_id": session_id,
                "code_hash": token_hash(code),
                "browser_hash": browser_hash,
                "ttl": timedelta(seconds=HANDOFF_SECONDS),
            },
        ).scalar()
    return code if made else None


@dataclass(frozen=True)
class Redeemed:
    token: str
    expires_at: datetime


def redeem_handoff(engine: Engine, code: object, browser: object) -> Redeemed | None:
    """The session's new token, when the code is unused, unexpired and redeemed by the browser it was made for.

    Any try uses the code up. The token is made here and only its hash is stored: it exists only in the cookie.
    """
    code_hash, browser_hash = token_hash(code), token_hash(browser)
    if code_hash is None or browser_hash is None:
        return None
    token = new_token()
    with engine.begin() as conn:
        row = conn.execute(
            sessions_q.REDEEM, {"code_hash": code_hash, "browser": browser_hash, "token": token_hash(token)}
        ).first()
    return Redeemed(token, row.expires_at) if row else None


def check_session(
    engine: Engine, *, token: object = None, session_id: UUID | None = None, idle: timedelta | None
) -> SessionCheck:
    """The session of a cookie's token (or of an id the app holds), as it is now, with who is signed in.

    Ends the session (and, when the account's password, ban or deletion is why, every session of the account)
    when it just expired. A token that cannot be one of ours is answered as unknown without asking the database.
    """
    hashed = token_hash(token) if token is not None else None
    if hashed is None and (token is not None or session_id is None):
        return SessionCheck()
    with engine.begin() as conn:
        row = conn.execute(
            sessions_q.CHECK, {"token_hash": hashed, "session_id": None if hashed else session_id, "idle": idle}
        ).first()
    if row is None:
        return SessionCheck()
    if row.status != ACTIVE:
        return SessionCheck(row.session_id, ended=row.status)
    identity = load_identity(engine, row.user_id)
    if identity is None:
        end_user_sessions(engine, row.user_id, DELETED)
        return SessionCheck(row.session_id, ended=DELETED)
    if identity.refused:  # banned or deleted between the two reads
        reason = DELETED if identity.refused == REFUSED_DELETED else BANNED
        end_user_sessions(engine, row.user_id, reason)
        return SessionCheck(row.session_id, ended=reason)
    if row.started_as_admin and not identity.is_admin:
        # A revoked admin role ends every session the person holds: whoever they are now signs in again, as that.
        end_user_sessions(engine, row.user_id, ROLE_REVOKED)
        return SessionCheck(row.session_id, ended=ROLE_REVOKED)
    return SessionCheck(row.session_id, identity=identity)


def end_session(engine: Engine, session_id: UUID, reason: str = SIGNED_OUT) -> bool:
    """End one session; False when it had ended already (or never was)."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    with engine.begin() as conn:
        return bool(conn.execute(sessions_q.END, {"session_id": session_id, "reason": reason}).scalar())


def end_user_sessions(engine: Engine, user_id: UUID, reason: str) -> int:
    """End every live session of an account; how many there were."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    with engine.begin() as conn:
        return int(conn.execute(sessions_q.END_USER, {"user_id": user_id, "reason": reason}).scalar() or 0)


class SessionAdmin:
    """What an admin may do with everyone's sessions: see them, end one, end all of a person's.

    Each call asks the database, as the caller, whether they are an admin now (a revoked role bites at once),
    then runs the owner's function.
    """

    def __init__(self, engine: Engine, *, user_id: UUID) -> None:
        self.engine = engine
        self.user_id = user_id

    def _require_admin(self) -> None:
        identity = load_identity(self.engine, self.user_id)
        if identity is None or identity.refused or not identity.is_admin:
            raise NotAllowed("Only admins can see and end sessions.")

    def list_sessions(self, *, include_ended: bool = False) -> list[SessionRow]:
        self._require_admin()
        with self.engine.connect() as conn:
            return [
                SessionRow(**row._mapping) for row in conn.execute(sessions_q.LIST, {"include_ended": include_ended})
            ]

    def end(self, session_id: UUID) -> bool:
        self._require_admin()
        return end_session(self.engine, session_id, ENDED_BY_ADMIN)

    def end_all_for(self, user_id: UUID) -> int:
        self._require_admin()
        return end_user_sessions(self.engine, user_id, ENDED_BY_ADMIN)
