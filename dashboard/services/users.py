"""People: accounts in auth.users written as Supabase Auth writes them, their profile and role.

The columns written are the ones the database has: on our emulated auth.users (id, email, encrypted_password,
raw_user_meta_data, created_at, updated_at) fewer, on Supabase's more (instance_id, aud, role,
email_confirmed_at, raw_app_meta_data, an auth.identities row...). Column lists come from the catalogue and
are built with SQLAlchemy's table objects, never by formatting text.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from uuid import UUID

import bcrypt
import sqlalchemy as sa
from psycopg import sql as psycopg_sql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from dashboard.queries import users as users_q
from dashboard.services.auth import normalise_email
from dashboard.services.errors import InvalidUser

ROLES = ("admin", "user")
MIN_PASSWORD_LENGTH = 12
# Supabase Auth (GoTrue) writes bcrypt hashes of cost 10 in the $2a$ form; so does this module, so that the
# accounts it makes look like any other and the dummy check for unknown emails costs the same.
BCRYPT_ROUNDS = 10
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
# Supabase's one instance id, as every account it writes has it.
SUPABASE_INSTANCE_ID = UUID("00000000-0000-0000-0000-000000000000")
# Text columns GoTrue reads as strings: NULL in any of them makes its password sign-in fail with "Database error
# querying schema" (supabase/auth#1940), so an account written here holds '' there, as GoTrue's own do.
_GOTRUE_EMPTY_STRINGS = (
    "confirmation_token",
    "recovery_token",
    "email_change_token_new",
    "email_change",
    "email_change_token_current",
    "phone_change",
    "phone_change_token",
    "reauthentication_token",
)
# Columns whose values are not plain text, with their types, so that the driver sends them right.
_TYPES: dict[str, Any] = {
    "id": PG_UUID(as_uuid=True),
    "instance_id": PG_UUID(as_uuid=True),
    "user_id": PG_UUID(as_uuid=True),
    "raw_app_meta_data": JSONB,
    "raw_user_meta_data": JSONB,
    "identity_data": JSONB,
}

_NO_PERMISSION = "42501"  # insufficient_privilege


def checked_email(email: str) -> str:
    """The email as accounts are looked up (auth.normalise_email); raise InvalidUser if it is not an address."""
    email = normalise_email(email)
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidUser("that is not an email address (expected name@example.com)")
    return email


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash in the $2a$ form Supabase Auth writes to auth.users.encrypted_password."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds, prefix=b"2a")).decode("ascii")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUser(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if "\x00" in password or len(password.encode("utf-8")) > 72:
        raise InvalidUser("the password must be at most 72 bytes and contain no NUL character (a bcrypt limit)")


def set_password(engine: Engine, *, email: str, password: str, rounds: int = BCRYPT_ROUNDS) -> None:
    """Give an existing account a new password (an operator's act, like create_user); its sessions all end."""
    email = checked_email(email)
    _check_password(password)
    try:
        with engine.begin() as conn:
            changed = conn.execute(
                users_q.SET_PASSWORD, {"email": email, "hash": hash_password(password, rounds=rounds)}
            )
            ids = list(changed.scalars())
            if not ids:
                raise InvalidUser(f"there is no account for {email}")
            for account_id in ids:
                conn.execute(users_q.END_SESSIONS, {"id": account_id})
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) == _NO_PERMISSION:
            raise InvalidUser(
                f"this database role may not change auth.users ({_first_line(exc)}); on Supabase, set the "
                "password in Supabase Auth instead (Dashboard: Authentication, Users, or the Auth admin API)"
            ) from None
        raise


def create_user(engine: Engine, *, email: str, password: str, role: str, rounds: int = BCRYPT_ROUNDS) -> UUID:
    """Create an account as Supabase Auth would, with its profile and role; return its id.

    Runs as the server's own login role, not as a signed-in person: creating accounts is an
    operator's act (the CLI), like Supabase's service role.
    """
    with engine.begin() as conn:
        return add_account(conn, email=email, password=password, role=role, rounds=rounds)


def add_account(conn: Connection, *, email: str, password: str, role: str, rounds: int = BCRYPT_ROUNDS) -> UUID:
    """create_user's writes, in the caller's transaction (the demo seeds its accounts with its catalogue).

    The id is made here (Supabase's auth.users has no default for it); the account is confirmed, signs in with an
    email and password, and has an auth.identities row where that table exists. On a Supabase project whose
    postgres role may not write the auth schema, InvalidUser says how to create the account in Supabase Auth and
    give the role in SQL.
    """
    email = checked_email(email)
    if role not in ROLES:
        raise InvalidUser(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    user_id = uuid.uuid4()
    try:
        if conn.execute(users_q.USER_EXISTS, {"email": email}).first():
            raise InvalidUser(f"an account for {email} already exists")
        _insert(conn, "auth.users", _account(user_id, email, hash_password(password, rounds=rounds)))
        _insert(conn, "auth.identities", _identity(user_id, email))
        profile = {"id": user_id, "email": email, "display_name": email.split("@")[0]}
        _insert(conn, "public.profiles", profile, on_conflict_do_nothing=True)  # a trigger may have made it
        conn.execute(users_q.INSERT_ROLE, {"id": user_id, "role": role})
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) == _NO_PERMISSION:
            raise InvalidUser(_create_elsewhere(email, role, exc)) from None
        raise
    return user_id


def _account(user_id: UUID, email: str, password_hash: str) -> dict[str, Any]:
    """An auth.users row as Supabase Auth writes one for an email sign-up that is confirmed."""
    now = sa.func.now()
    return {
        "instance_id": SUPABASE_INSTANCE_ID,
        "id": user_id,
        "aud": "authenticated",
        "role": "authenticated",
        "email": email,
        "encrypted_password": password_hash,
        "email_confirmed_at": now,
        "raw_app_meta_data": {"provider": "email", "providers": ["email"]},
        "raw_user_meta_data": {},
        "created_at": now,
        "updated_at": now,
        **dict.fromkeys(_GOTRUE_EMPTY_STRINGS, ""),
    }


def _identity(user_id: UUID, email: str) -> dict[str, Any]:
    """The auth.identities row of an email sign-in (Supabase's columns; its id has a default, email is generated)."""
    now = sa.func.now()
    return {
        "provider_id": str(user_id),
        "user_id": user_id,
        "identity_data": {"sub": str(user_id), "email": email, "email_verified": True},
        "provider": "email",
        "last_sign_in_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _insert(conn: Connection, table: str, values: dict[str, Any], *, on_conflict_do_nothing: bool = False) -> None:
    """Insert the values whose columns the table has and may be written; nothing when the table is missing."""
    columns = set(conn.execute(users_q.WRITABLE_COLUMNS, {"table": table}).scalars())
    present = {name: value for name, value in values.items() if name in columns}
    if not present:
        return
    schema, name = table.split(".")
    target = sa.table(name, *(sa.column(column, _TYPES.get(column)) for column in present), schema=schema)
    statement = pg_insert(target).values(present)
    conn.execute(statement.on_conflict_do_nothing() if on_conflict_do_nothing else statement)


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _first_line(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


_GIVE_ROLE = psycopg_sql.SQL(
    "insert into public.user_roles (user_id, role) select id, {role} from auth.users where email = {email};"
)


def _create_elsewhere(email: str, role: str, exc: sa.exc.DBAPIError) -> str:
    """One line for an operator whose database role may not write Supabase's auth schema."""
    # Shown, never run here; quoted by psycopg all the same, so that it can be pasted as it is.
    give_role = _GIVE_ROLE.format(role=psycopg_sql.Literal(role), email=psycopg_sql.Literal(email))
    return (
        f"this database role may not create accounts ({_first_line(exc)}); on Supabase, create {email} in "
        "Supabase Auth (Dashboard: Authentication, Add user, or the Auth admin API), then give the role in SQL: "
        + give_role.as_string(None)
    )
