"""Signing in: passwords checked against auth.users (bcrypt, as Supabase stores them), throttled, and refused
where Supabase Auth would refuse them.

Every password attempt is recorded in dashboard.sign_in_attempts (migration 0007) and throttled per
account and per client address before any password is checked; see THROTTLE. Once the password is right,
the account's state (migration 0011) decides: a banned, deleted or unconfirmed account is refused with the
reason, and an account with a verified TOTP factor must give a code from its authenticator app as well
(verify_code), or is refused when its secret cannot be read here.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import re
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import bcrypt
import pyotp
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dashboard.database import acting_as
from dashboard.queries import auth as auth_q

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


# Why an account whose password was right is refused, after "This account cannot sign in here: ". Only a
# person who typed the right password sees these, so they may say what is wrong.
REFUSED_DELETED = "it has been deleted."
REFUSED_BANNED = "it is suspended (banned in Supabase Auth). Ask an admin if you think this is a mistake."
REFUSED_UNCONFIRMED = (
    "its email address is not confirmed yet. Open the link in the confirmation email, then sign in again."
)
REFUSED_UNVERIFIED_EMAIL = (
    "your identity provider did not confirm that this email address is yours (its email_verified claim). "
    "Verify the address with your provider, or ask an admin."
)
REFUSED_SECOND_FACTOR = (
    "it is protected by a second factor (an authenticator app, a phone or a security key) that this dashboard "
    "cannot check. Sign in with single sign-on (your identity provider) instead."
)
# How long the code step of a sign-in stays open after the password was right.
CODE_STEP = timedelta(minutes=5)
_CODE = re.compile(r"[0-9]{6}")
_BASE32_SECRET = re.compile(r"[A-Za-z2-7]{16,}=*")
# bcrypt costs a dummy hash may have: below 4 bcrypt refuses; above 14 a single check takes seconds.
_DUMMY_COSTS = range(4, 15)
_HASH_COST_SECONDS = 300.0


@dataclass(frozen=True)
class Identity:
    """Who is signed in, as the database sees them now.

    refused says why the account may no longer sign in (deleted or banned since): the app signs them out.
    """

    user_id: UUID
    email: str
    display_name: str
    is_admin: bool
    refused: str | None = None


@dataclass(frozen=True)
class CodeChallenge:
    """A sign-in whose password was right, waiting for a code from the account's authenticator app.

    Kept by the app for this browser session only (never sent to the browser); verify_code() finishes it.
    """

    email: str  # normalised: attempts at the code count under the same account as the password's
    user_id: UUID
    attempt_id: int  # the password's attempt, a failure until the code is right
    expires_at: float  # time.time() after which the password has to be typed again

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


@dataclass(frozen=True)
class SignInResult:
    """The answer to a sign-in step.

    user_id: signed in. retry_after: throttled, nothing was checked. refused: the password was right but the
    account may not sign in here (the reason, for the person). challenge: the password was right (or the code
    wrong) and a code from the authenticator app is needed. expired: the code step timed out. None of them
    means the email or the password was wrong, which is never told apart.
    """

    user_id: UUID | None = None
    retry_after: timedelta | None = None
    refused: str | None = None
    challenge: CodeChallenge | None = None
    expired: bool = False

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None

    @property
    def needs_code(self) -> bool:
        return self.challenge is not None

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
    path and the same time (the unknown email's dummy hash costs what the accounts' hashes cost). Only when
    the password is right does the account's state count: banned, deleted and unconfirmed accounts are
    refused, and an account with a verified TOTP factor gets a challenge to finish with verify_code() (or is
    refused when its secret cannot be read here). Runs as the server's login role, before anyone is signed
    in; it reads only what the functions of migrations 0007 and 0011 hand out.
    """
    email = normalise_email(email)
    secret = (password or "").encode("utf-8", "replace")[:MAX_PASSWORD_BYTES]
    with engine.begin() as conn:
        cost = _hash_cost(engine, conn)  # before the account is looked up: the same for every email
        attempt = _begin_attempt(conn, email, address, throttle)
        if attempt.retry_after is not None:
            return SignInResult(retry_after=attempt.retry_after)
        row = conn.execute(auth_q.ACCOUNT, {"email": email}).first()
    stored = row.encrypted_password.encode("ascii", "replace") if row and row.encrypted_password else None
    if not (_password_matches(secret, stored or dummy_hash(cost)) and stored):
        return SignInResult()  # already recorded as a failure
    # The password is right: from here on the answer may depend on the account.
    refused = _refusal(row)
    if refused is None and _needs_second_factor(row):
        if row.needs_totp and _readable_secrets(row.totp_secrets):
            expires = time.time() + CODE_STEP.total_seconds()
            # The attempt stays a failure until the code is right: a password alone never resets the count.
            return SignInResult(challenge=CodeChallenge(email, row.id, attempt.attempt_id, expires))
        refused = REFUSED_SECOND_FACTOR
    if refused is not None:
        return SignInResult(refused=refused)  # stays a failure: it did not sign anyone in
    with engine.begin() as conn:
        conn.execute(auth_q.SUCCEEDED, {"attempt_id": attempt.attempt_id})
    return SignInResult(user_id=row.id)


def verify_code(
    engine: Engine,
    challenge: CodeChallenge,
    *,
    code: str,
    address: str | None = None,
    throttle: Throttle = THROTTLE,
) -> SignInResult:
    """Finish a sign-in whose password was right with a code from the account's authenticator app.

    Each code is an attempt throttled and recorded like a password, under the same account: a wrong code is a
    failure, and the account waits after 5 of them (password attempts included). The account is read again,
    so one banned or whose factor went away meanwhile is answered as it is now. A right code signs in and
    turns the password's attempt into a success too. A wrong code answers with the same challenge.
    """
    if challenge.expired:
        return SignInResult(expired=True)
    typed = "".join((code or "").split())[:32]
    with engine.begin() as conn:
        attempt = _begin_attempt(conn, challenge.email, address, throttle)
        if attempt.retry_after is not None:
            return SignInResult(retry_after=attempt.retry_after, challenge=challenge)
        row = conn.execute(auth_q.ACCOUNT, {"email": challenge.email}).first()
    if row is None or row.id != challenge.user_id:
        return SignInResult(expired=True)  # the account went away or changed: start again
    refused = _refusal(row)
    if refused is not None:
        return SignInResult(refused=refused)
    if _needs_second_factor(row):
        secrets = _readable_secrets(row.totp_secrets) if row.needs_totp else []
        if not secrets:
            return SignInResult(refused=REFUSED_SECOND_FACTOR)
        if not _code_matches(typed, secrets):
            return SignInResult(challenge=challenge)  # recorded as a failure
    with engine.begin() as conn:
        conn.execute(auth_q.SUCCEEDED, {"attempt_id": attempt.attempt_id})
        conn.execute(auth_q.SUCCEEDED, {"attempt_id": challenge.attempt_id})
    return SignInResult(user_id=row.id)


def _begin_attempt(conn: Connection, email: str, address: str | None, throttle: Throttle) -> sa.Row:
    return conn.execute(
        auth_q.BEGIN_ATTEMPT,
        {
            "account": account_key(email),
            "address": address_bucket(address),
            "window": throttle.window,
            "account_limit": throttle.account_limit,
            "address_limit": throttle.address_limit,
        },
    ).one()


def _refusal(row: sa.Row) -> str | None:
    """Why Supabase Auth would not let this account in (its password being right), or None."""
    if row.deleted:
        return REFUSED_DELETED
    if row.banned:
        return REFUSED_BANNED
    if row.unconfirmed:
        return REFUSED_UNCONFIRMED
    return None


def _needs_second_factor(row: sa.Row) -> bool:
    """A verified factor exists, or whether one does could not be read (then the password is not enough)."""
    return row.needs_totp is not False or bool(row.other_factor)


def _readable_secrets(secrets: list[str] | None) -> list[str]:
    """The TOTP secrets this app can compute codes from: base32 text (an encrypted secret is not)."""
    readable = []
    for secret in secrets or []:
        if isinstance(secret, str) and _BASE32_SECRET.fullmatch(secret):
            try:
                pyotp.TOTP(secret).now()
            except (ValueError, TypeError):  # binascii.Error is a ValueError
                continue
            readable.append(secret)
    return readable


def _code_matches(code: str, secrets: list[str]) -> bool:
    """A six-digit code of one of the secrets, now or one 30-second step either side (clock drift)."""
    if not _CODE.fullmatch(code):
        return False
    matches = [pyotp.TOTP(secret).verify(code, valid_window=1) for secret in secrets]  # each one, always
    return any(matches)


def _password_matches(secret: bytes, stored: bytes) -> bool:
    try:
        return bcrypt.checkpw(secret[:72], stored)
    except ValueError:  # a stored value that is not a bcrypt hash
        return False


@functools.cache
def dummy_hash(cost: int) -> bytes:
    """What an unknown email's password is checked against: a hash of this cost, made once per process."""
    return bcrypt.hashpw(b"no such account", bcrypt.gensalt(rounds=cost))


def prepare_sign_in(engine: Engine) -> None:
    """Read the accounts' hash cost and make its dummy hash now, so that the first sign-in of a process does not
    (about 80 ms at cost 10 on two cores): the sign-in form's warmup calls it while the person types."""
    with engine.begin() as conn:
        _hash_cost(engine, conn)


_hash_costs: weakref.WeakKeyDictionary[Engine, tuple[float, int]] = weakref.WeakKeyDictionary()
_hash_costs_lock = threading.Lock()


def _hash_cost(engine: Engine, conn: Connection) -> int:
    """The bcrypt cost of the accounts' hashes (dashboard.sign_in_hash_cost()), read at most every 5 minutes.

    Read before the account is looked up, whatever the email, so that the time it takes tells nothing; the
    dummy hash of a new cost is made then too, not on the first unknown email.
    """
    now = time.monotonic()
    with _hash_costs_lock:
        cached = _hash_costs.get(engine)
    if cached is not None and now - cached[0] < _HASH_COST_SECONDS:
        return cached[1]
    cost = conn.execute(auth_q.HASH_COST).scalar()
    cost = min(max(int(cost or 10), _DUMMY_COSTS.start), _DUMMY_COSTS.stop - 1)
    dummy_hash(cost)
    with _hash_costs_lock:
        _hash_costs[engine] = (now, cost)
    return cost


def single_sign_on(engine: Engine, email: str, *, email_verified: object) -> SignInResult:
    """The account of a person signed in by an identity provider (OIDC), matched on email.

    user_id when there is one that may sign in; refused (with the reason) when it is deleted or banned, or
    when the provider did not say it verified the email (its email_verified claim, true or "true"): anyone
    can put someone else's address on an account at some providers, and matching on it would let them in as
    that person. Neither when there is no account. The provider checked the person, so no password or second
    factor is asked for here.
    """
    if email_verified is not True and str(email_verified).strip().lower() != "true":
        return SignInResult(refused=REFUSED_UNVERIFIED_EMAIL)
    with engine.connect() as conn:
        row = conn.execute(auth_q.ACCOUNT, {"email": normalise_email(email)}).first()
    if row is None:
        return SignInResult()
    if row.deleted:
        return SignInResult(refused=REFUSED_DELETED)
    if row.banned:
        return SignInResult(refused=REFUSED_BANNED)
    return SignInResult(user_id=row.id)


def load_identity(engine: Engine, user_id: UUID) -> Identity | None:
    """Who this is and whether they are an admin, asked of the database as them; None if gone."""
    with acting_as(engine, user_id) as conn:
        row = conn.execute(auth_q.IDENTITY).first()
    if row is None:
        return None
    refused = REFUSED_DELETED if row.deleted else REFUSED_BANNED if row.banned else None
    email = row.email or ""
    return Identity(user_id, email, row.display_name or email, bool(row.is_admin), refused)
