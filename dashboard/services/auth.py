"""Signing in: passwords checked against auth.users (bcrypt, as Supabase stores them)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import bcrypt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.database import acting_as

# Checked against when the email is unknown, so that a wrong email costs as long as a wrong password
# and the time taken does not tell which accounts exist.
_DUMMY_HASH = bcrypt.hashpw(b"no such account", bcrypt.gensalt(rounds=12))

_ACCOUNT = sa.text("SELECT id, encrypted_password FROM auth.users WHERE lower(email) = :email")
_IDENTITY = sa.text("""
SELECT p.email, coalesce(p.display_name, p.email) AS display_name, has_role(auth.uid(), 'admin'::app_role) AS is_admin
FROM profiles p WHERE p.id = auth.uid()
""")
MAX_PASSWORD_BYTES = 1024


@dataclass(frozen=True)
class Identity:
    """Who is signed in, as the database sees them now."""

    user_id: UUID
    email: str
    display_name: str
    is_admin: bool


def authenticate(engine: Engine, *, email: str, password: str) -> UUID | None:
    """The account's id when the password is right, else None (the same answer for an unknown email).

    Reads auth.users as the server's login role: people have no rights on it, so this is the one
    thing done before anyone is signed in.
    """
    email = (email or "").strip().lower().replace("\x00", "")[:254]
    secret = (password or "").encode("utf-8")[:MAX_PASSWORD_BYTES]
    with engine.connect() as conn:
        row = conn.execute(_ACCOUNT, {"email": email}).first()
    stored = row.encrypted_password.encode("ascii") if row and row.encrypted_password else _DUMMY_HASH
    try:
        matches = bcrypt.checkpw(secret[:72], stored)
    except ValueError:  # a stored value that is not a bcrypt hash
        matches = False
    return row.id if matches and row and row.encrypted_password else None


def user_id_for_email(engine: Engine, email: str) -> UUID | None:
    """The account of a person signed in by an identity provider (OIDC), matched on email."""
    with engine.connect() as conn:
        row = conn.execute(_ACCOUNT, {"email": (email or "").strip().lower()[:254]}).first()
    return row.id if row else None


def load_identity(engine: Engine, user_id: UUID) -> Identity | None:
    """Who this is and whether they are an admin, asked of the database as them; None if gone."""
    with acting_as(engine, user_id) as conn:
        row = conn.execute(_IDENTITY).first()
    return Identity(user_id, row.email, row.display_name, bool(row.is_admin)) if row else None
