"""People: accounts in auth.users (bcrypt, as Supabase stores them), their profile and role."""

from __future__ import annotations

import re
from uuid import UUID

import bcrypt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.services.errors import ServiceError

ROLES = ("admin", "user")
MIN_PASSWORD_LENGTH = 12
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")

_INSERT_USER = sa.text("""
insert into auth.users (email, encrypted_password) values (:email, :hash) returning id
""")
_INSERT_PROFILE = sa.text("""
insert into public.profiles (id, email, display_name) values (:id, :email, :display_name)
""")
_INSERT_ROLE = sa.text("""
insert into public.user_roles (user_id, role) values (:id, cast(:role as app_role))
""")
_USER_EXISTS = sa.text("select 1 from auth.users where lower(email) = :email")


class InvalidUser(ServiceError):
    """The email, password or role given for a new account is not acceptable."""


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased; raise InvalidUser if it is not an email address."""
    email = (email or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidUser("that is not an email address (expected name@example.com)")
    return email


def hash_password(password: str, *, rounds: int = 12) -> str:
    """A bcrypt hash in the $2b$ form Supabase's auth.users holds."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")


_SET_PASSWORD = sa.text(
    "update auth.users set encrypted_password = :hash, updated_at = now() where lower(email) = :email"
)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUser(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if "\x00" in password or len(password.encode("utf-8")) > 72:
        raise InvalidUser("the password must be at most 72 bytes and contain no NUL character (a bcrypt limit)")


def set_password(engine: Engine, *, email: str, password: str, rounds: int = 12) -> None:
    """Give an existing account a new password (an operator's act, like create_user)."""
    email = normalise_email(email)
    _check_password(password)
    with engine.begin() as conn:
        if conn.execute(_SET_PASSWORD, {"email": email, "hash": hash_password(password, rounds=rounds)}).rowcount == 0:
            raise InvalidUser(f"there is no account for {email}")


def create_user(engine: Engine, *, email: str, password: str, role: str, rounds: int = 12) -> UUID:
    """Create an account with its profile and role; return its id.

    Runs as the server's own login role, not as a signed-in person: creating accounts is an
    operator's act (the CLI), like Supabase's service role.
    """
    email = normalise_email(email)
    if role not in ROLES:
        raise InvalidUser(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    with engine.begin() as conn:
        if conn.execute(_USER_EXISTS, {"email": email}).first():
            raise InvalidUser(f"an account for {email} already exists")
        user_id = conn.execute(
            _INSERT_USER, {"email": email, "hash": hash_password(password, rounds=rounds)}
        ).scalar_one()
        conn.execute(_INSERT_PROFILE, {"id": user_id, "email": email, "display_name": email.split("@")[0]})
        conn.execute(_INSERT_ROLE, {"id": user_id, "role": role})
    return user_id
