"""Signing in: passwords checked against auth.users (bcrypt, as Supabase stores them), throttled.

Every password attempt is recorded in dashboard.sign_in_attempts (migration 0007) and throttled per
account and per client address before any password is checked; see THROTTLE.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import bcrypt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.database import acting_as

# Checked against when the email is unknown, so that a wrong email costs as long as a wrong password
# and the time taken does not tell which accounts exist.
_DUMMY_HASH = bcrypt.hashpw(b"no such account", bcrypt.gensalt(rounds=12))

# Through a security definer function (migration 0007): the login role needs no right on auth.users.
_ACCOUNT = sa.text("SELECT id, encrypted_password FROM dashboard.sign_in_account(:email)")
_IDENTITY = sa.text("""
SELECT p.email, coalesce(p.display_name, p.email) AS display_name, has_role(auth.uid(), 'admin'::app_role) AS is_admin
FROM profiles p WHERE p.id = auth.uid()
""")
_BEGIN_ATTEMPT = sa.text("""
SELECT attempt_id, retry_after
FROM dashboard.begin_sign_in_attempt(:account, cast(:address AS inet), :account_limit, :address_limit, :window)
""")
_SUCCEEDED = sa.text("SELECT dashboard.sign_in_attempt_succeeded(:attempt_id)")
MAX_PASSWORD_BYTES = 1024
MAX_EMAIL_CHARS = 254


@dataclass(frozen=True)
class Throttle:
    """How many failed sign-ins are allowed within a sliding window before further attempts wait."""

    account_limit: int = 5  # failures per account (per email typed, whether or not it has an account)
    address_limit: int = 20  # failures per client address, across every email tried from it
    window: timedelta = timedelta(minutes=15)


# The limits, in one place. Per account: 5 failures in 15 minutes bounds a guesser to 480 passwords a day per
# account, and a person who mistypes is locked out for at most 15 minutes after their fifth try. Per address:
# 20 failures in 15 minutes lets an office behind one address mistype now and then, while one machine trying
# one password on many accounts is stopped after 20. Why a sliding window and not a doubling wait: see
# docs/production.md (Sign-in throttling).
THROTTLE = Throttle()


@dataclass(frozen=True)
class Identity:
    """Who is signed in, as the database sees them now."""

    user_id: UUID
    email: str
    display_name: str
    is_admin: bool


@dataclass(frozen=True)
class SignInResult:
    """The answer to a sign-in: the account when the password was right; how long to wait when throttled.

    Neither set means the email or the password was wrong, which is never told apart.
    """

    user_id: UUID | None = None
    retry_after: timedelta | None = None

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None

    @property
    def retry_minutes(self) -> int:
        """Whole minutes to wait, rounded up (at least 1); 0 when not throttled."""
        if self.retry_after is None:
            return 0
        return max(1, math.ceil(self.retry_after.total_seconds() / 60))


def normalise_email(email: str | None) -> str:
    """The email as accounts are looked up: trimmed, lower-cased, without NUL, at most 254 characters."""
    text = (email or "").replace("\x00", "").strip().lower()[:MAX_EMAIL_CHARS].rstrip()
    # A lone surrogate cannot be sent to the database or hashed; it cannot be in an account's email either.
    return text.encode("utf-8", "replace").decode("utf-8")


def account_key(email: str | None) -> bytes:
    """What attempts are counted under for an email: sha256 of its normalised form, known account or not."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).digest()


def address_bucket(address: object) -> str | None:
    """What attempts are counted under for a client address, or None when it is unknown or not an address.

    IPv4 as it is; IPv6 by its /64, the block one subscriber usually gets, so that walking through one's own
    addresses does not reset the count; an IPv4 address written as IPv6 (::ffff:a.b.c.d) as the IPv4 one.
    Loopback is unknown too: it is a reverse proxy on the same machine, whose one address every client
    would share, so that 20 failures by anyone would lock everyone out.
    """
    if not isinstance(address, str) or not address or len(address) > 64:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))  # int() drops a %zone
    return str(ip)


def sign_in(
    engine: Engine, *, email: str, password: str, address: str | None = None, throttle: Throttle = THROTTLE
) -> SignInResult:
    """Check a password, unless the email or the client address has failed too often lately.

    address is the client's IP address as the web server saw it (None when unknown: then only the account
    is throttled). Every attempt is recorded, successes too. A throttled attempt checks no password and
    answers the same whether or not the account exists; an unknown email and a wrong password take the same
    path and the same time. Runs as the server's login role, before anyone is signed in; it reads only
    what the functions of migration 0007 hand out.
    """
    email = normalise_email(email)
    secret = (password or "").encode("utf-8", "replace")[:MAX_PASSWORD_BYTES]
    with engine.begin() as conn:
        limits = {"account_limit": throttle.account_limit, "address_limit": throttle.address_limit}
        attempt = conn.execute(
            _BEGIN_ATTEMPT,
            {"account": account_key(email), "address": address_bucket(address), "window": throttle.window, **limits},
        ).one()
        if attempt.retry_after is not None:
            return SignInResult(retry_after=attempt.retry_after)
        row = conn.execute(_ACCOUNT, {"email": email}).first()
    stored = row.encrypted_password.encode("ascii", "replace") if row and row.encrypted_password else _DUMMY_HASH
    if not (_password_matches(secret, stored) and row and row.encrypted_password):
        return SignInResult()  # already recorded as a failure
    with engine.begin() as conn:
        conn.execute(_SUCCEEDED, {"attempt_id": attempt.attempt_id})
    return SignInResult(user_id=row.id)


def _password_matches(secret: bytes, stored: bytes) -> bool:
    try:
        return bcrypt.checkpw(secret[:72], stored)
    except ValueError:  # a stored value that is not a bcrypt hash
        return False


def authenticate(engine: Engine, *, email: str, password: str, address: str | None = None) -> UUID | None:
    """The account's id when the password is right, else None: sign_in() without telling why not."""
    return sign_in(engine, email=email, password=password, address=address).user_id


def user_id_for_email(engine: Engine, email: str) -> UUID | None:
    """The account of a person signed in by an identity provider (OIDC), matched on email."""
    with engine.connect() as conn:
        row = conn.execute(_ACCOUNT, {"email": normalise_email(email)}).first()
    return row.id if row else None


def load_identity(engine: Engine, user_id: UUID) -> Identity | None:
    """Who this is and whether they are an admin, asked of the database as them; None if gone."""
    with acting_as(engine, user_id) as conn:
        row = conn.execute(_IDENTITY).first()
    return Identity(user_id, row.email, row.display_name, bool(row.is_admin)) if row else None
