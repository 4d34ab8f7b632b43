"""Versioned SQL migrations, recorded in the dashboard schema and applied under an advisory lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any two processes migrating the same database take turns on this key.
_LOCK_KEY = 0x6170_695F_6D6F_64  # "api_mod"

_BOOTSTRAP = """
create schema if not exists dashboard;
comment on schema dashboard is 'What the admin dashboard owns: migration records, and later audit and rollups.';
create table if not exists dashboard.schema_migrations (
  version    text primary key,
  name       text not null,
  checksum   text not null,
  applied_at timestamptz not null default now()
);
"""


class MigrationError(Exception):
    """A migration could not be applied; nothing of it was kept."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files, in version order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(match[1], match[2], path.read_text(encoding="utf-8")))
    return found


def migrate(engine: Engine, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is pending, each in its own transaction with its record; return the versions applied."""
    migrations = load_migrations() if migrations is None else migrations
    applied_now: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # The raw driver connection runs a whole file (many statements, dollar quotes) as it is.
        pg = conn.connection.driver_connection
        pg.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            with pg.transaction():
                pg.execute(_BOOTSTRAP)
            done = dict(pg.execute("select version, checksum from dashboard.schema_migrations").fetchall())
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version}_{migration.name} was changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                try:
                    with pg.transaction():
                        pg.execute(migration.sql)
                        pg.execute(
                            "insert into dashboard.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except Exception as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    hint = getattr(getattr(exc, "diag", None), "message_hint", None)
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} failed and was rolled back: {first}"
                        + (f" ({hint})" if hint else "")
                    ) from exc
                applied_now.append(migration.version)
        finally:
            pg.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def applied_versions(engine: Engine) -> list[str]:
    """Versions recorded as applied, oldest first."""
    with engine.connect() as conn:
        exists = conn.execute(sa.text("select to_regclass('dashboard.schema_migrations')")).scalar()
        if exists is None:
            return []
        return list(conn.execute(sa.text("select version from dashboard.schema_migrations order by version")).scalars())
