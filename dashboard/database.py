"""Engines, connection errors that say what to check, and transactions run as a person."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.engine import make_url as sa_make_url

from dashboard.config import Settings

_ACCEPTED_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used; the message is one line that says what to check."""


def to_sqlalchemy_url(url: str) -> URL:
    """Turn a plain postgresql:// URL (Unix-socket ones included) into psycopg 3's SQLAlchemy URL."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _ACCEPTED_SCHEMES:
        raise DatabaseUnavailable(
            "DATABASE_URL must be a postgresql:// URL, e.g. postgresql://user:password@host:5432/dbname"
        )
    try:
        parsed = sa_make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError and ValueError for malformed URLs
        raise DatabaseUnavailable(f"DATABASE_URL is not a valid URL ({type(exc).__name__}); check its syntax") from None
    return parsed.set(drivername="postgresql+psycopg")


def describe(url: URL) -> str:
    """Where a URL points, without its password: for messages."""
    host = url.host or url.query.get("host") or "local socket"
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database or ''}"


def create_db_engine(url: str | None = None, *, settings: Settings | None = None) -> Engine:
    """An engine for url, for DATABASE_URL, or for the embedded server when neither is given."""
    settings = settings or Settings.from_env()
    url = url or settings.database_url
    if url is None:
        from db.embedded import start_embedded_server

        try:
            url = start_embedded_server(settings.data_dir)
        except Exception as exc:
            raise DatabaseUnavailable(
                f"Could not start the embedded PostgreSQL in {settings.data_dir} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
                "check that folder is writable or set DASHBOARD_DATA_DIR"
            ) from None
    sa_url = to_sqlalchemy_url(url)
    return sa.create_engine(
        sa_url,
        pool_pre_ping=True,  # a server that restarted is noticed on checkout, not by the user
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": 5, "application_name": "api-models-dashboard"},
    )


def check_connection(engine: Engine) -> None:
    """Connect once; raise DatabaseUnavailable with a one-line hint when that fails."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailable(connection_hint(engine.url, exc)) from None


def connection_hint(url: URL, exc: Exception) -> str:
    """One line for a failed connection: what went wrong and what to check."""
    lines = str(getattr(exc, "orig", exc)).strip().splitlines()
    # psycopg says "connection failed: connection to server at ..., port ... failed: FATAL:  <reason>";
    # the reason after the last "failed: " is what the person needs.
    reason = (lines[0] if lines else type(exc).__name__).rsplit("failed: ", 1)[-1]
    reason = reason.removeprefix("FATAL:").strip()
    lowered = reason.lower()
    if "password" in lowered:
        check = "check the user name and password in DATABASE_URL"
    elif lowered.startswith("role") and "does not exist" in lowered:
        check = "check the user name in DATABASE_URL"
    elif lowered.startswith("database") and "does not exist" in lowered:
        check = "check the database name in DATABASE_URL, or create that database"
    elif "timeout" in lowered or "timed out" in lowered:
        check = "check the host and port in DATABASE_URL and that a firewall lets you through"
    else:
        check = "check that the server is running and that DATABASE_URL's host and port are right"
    return f"Cannot connect to PostgreSQL at {describe(url)}: {reason} — {check}"


SERVICE_ROLE = "service_role"
Actor = UUID | Literal["service_role"] | None


def plain_rows(result: sa.Result) -> list[tuple]:
    """A result's rows as plain tuples: pandas builds a frame from 10,000 of them in a millisecond, from SQLAlchemy's
    rows in 50."""
    return list(map(tuple, result.all()))


def role_and_claims(user_id: Actor) -> tuple[str, str]:
    """The database role and JWT claims (JSON) a request from this person runs with, as Supabase sets them."""
    if user_id == SERVICE_ROLE:
        return SERVICE_ROLE, json.dumps({"role": SERVICE_ROLE})
    if user_id is None:
        return "anon", json.dumps({"role": "anon"})
    return "authenticated", json.dumps({"sub": str(user_id), "role": "authenticated"})


@contextmanager
def acting_as(
    engine: Engine, user_id: Actor, *, snapshot: bool = False, lock: sa.Executable | None = None
) -> Iterator[Connection]:
    """A transaction run as this person under RLS, as Supabase does it.

    None acts as an anonymous visitor; SERVICE_ROLE as a trusted backend (a job worker), which
    bypasses RLS exactly as Supabase's service key does. snapshot: every statement sees the database as the first
    one did (REPEATABLE READ), for reads that must agree with each other. lock: a LOCK TABLE run first, as the login
    role, before the snapshot is taken: a table another transaction may TRUNCATE (not MVCC-safe: a snapshot older
    than the truncation sees it empty) is then either truncated before the snapshot or not until this ends.
    """
    role, claims = role_and_claims(user_id)
    if snapshot:
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    with engine.begin() as conn:
        if lock is not None:
            conn.execute(lock)
        # set_config(..., true) lasts until the end of this transaction; the pooled connection is
        # back to its login role afterwards, so nothing leaks to the next person who borrows it.
        conn.execute(
            sa.text("select set_config('role', :role, true), set_config('request.jwt.claims', :claims, true)"),
            {"role": role, "claims": claims},
        )
        yield conn
