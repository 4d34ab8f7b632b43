"""Versioned SQL migrations, recorded in the dashboard schema and applied under an advisory lock."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.live import (
    SEED_INDEXES,
    VACUUM_ROLLUPS,
    finish_attaching,
    inspect_shape,
    missing_seed_indexes,
    plan,
    seed_index_sql,
)

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
alter table dashboard.schema_migrations enable row level security;
create table if not exists dashboard.created_objects (
  object     text primary key,
  created_at timestamptz not null default now()
);
comment on table dashboard.created_objects is
  'Platform objects the dashboard created because the database had none: the only ones it ever alters.';
alter table dashboard.created_objects enable row level security;
"""

# Files rewritten after release so that they never touch a live platform's objects (see 0010). A database
# that applied an earlier text got the same objects from it wherever it created them, and 0010 undoes the
# rest, so its record is brought up to date instead of being refused as an edit.
_SUPERSEDED = {
    "0001": {"c1d1f8ce865e4439b38a7e11f4066e431513db10613e576d0d387fdfe7db33bb"},
    "0002": {"421c3917707936e56e7bc364bb7cbd9a1a17c2d631403dc3aa1540b3a6b3e0d3"},
    "0003": {"cb16083fe18e144e71b93f9c166d91711b146825caa87fd2df5100ba47065310"},
    "0005": {"3b4452e50deff2295e740d60a156e1310d11e120bc426cc1ba6bf05f04ff5a9c"},
    "0009": {"8d05b2315034d568af34e4f7404da2ca2717ae0d57bb784a09f8673bf26ee91f"},
}
_UPDATE_CHECKSUM = "update dashboard.schema_migrations set checksum = %s where version = %s"


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


def migrate(engine: Engine, migrations: list[Migration] | None = None, *, report: list[str] | None = None) -> list[str]:
    """Apply what is pending, each in its own transaction with its record; return the versions applied.

    Then, once every migration is applied, the steps that run outside a transaction (db/live.py); what they
    did is appended to report when one is given (the seed's rules that rows break: services.catalogue).
    """
    migrations = load_migrations() if migrations is None else migrations
    applied_now: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # The raw driver connection runs a whole file (many statements, dollar quotes) as it is.
        pg = conn.connection.driver_connection
        # Polled, not waited for inside a statement: a CREATE INDEX CONCURRENTLY run by the process holding
        # the lock waits for every older snapshot, which a statement blocked here would hold (a deadlock).
        while not pg.execute("select pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:
            time.sleep(0.05)
        try:
            with pg.transaction():
                pg.execute(_BOOTSTRAP)
            done = dict(pg.execute("select version, checksum from dashboard.schema_migrations").fetchall())
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] in _SUPERSEDED.get(migration.version, ()):
                        pg.execute(_UPDATE_CHECKSUM, (migration.checksum, migration.version))
                        continue
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
            if {m.version for m in load_migrations()} <= set(done) | set(applied_now):
                done_outside = finish_attaching(pg)
                if report is not None:
                    report.extend(done_outside)
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


def pending_versions(engine: Engine) -> list[str]:
    """Versions not applied yet (reads only)."""
    applied = set(applied_versions(engine))
    return [m.version for m in load_migrations() if m.version not in applied]


def migration_plan(engine: Engine) -> list[tuple[str, list[str]]]:
    """What migrate would do here, in titled sections, without changing anything."""
    with engine.connect() as conn:
        shape = inspect_shape(conn.connection.driver_connection, pending_versions(engine))
    return plan(shape)


@dataclass(frozen=True)
class SqlPart:
    """A piece of the migration as SQL to review and apply elsewhere: in one transaction, or on its own."""

    name: str
    sql: str
    in_transaction: bool


def migration_sql(engine: Engine) -> list[SqlPart]:
    """Everything migrate would run here, as SQL that records itself as migrate does.

    The first part runs in one transaction; each later part on its own (CREATE INDEX CONCURRENTLY cannot
    run in a transaction), in order. Applied this way, a later `migrate` finds nothing left to do.
    """
    pending = set(pending_versions(engine))
    body = [_BOOTSTRAP.strip()]
    for migration in load_migrations():
        if migration.version not in pending:
            continue
        body.append(f"-- ─── {migration.version}_{migration.name} ───\n{migration.sql.strip()}")
        body.append(_RECORD_SQL.format(version=migration.version, name=migration.name, checksum=migration.checksum))
    parts = [SqlPart("api_models_dashboard", "\n\n".join(body) + "\n", True)] if pending else []
    with engine.connect() as conn:
        pg = conn.connection.driver_connection
        has_models = pg.execute("select to_regclass('public.api_models')").fetchone()[0] is not None
        indexes = missing_seed_indexes(pg) if has_models else list(SEED_INDEXES)
    for name in indexes:
        parts.append(SqlPart(f"api_models_dashboard_{name}", seed_index_sql(name) + ";\n", False))
    parts.append(SqlPart("api_models_dashboard_usage_count", _COUNT_SQL, True))
    parts.append(SqlPart("api_models_dashboard_usage_vacuum", VACUUM_ROLLUPS + ";\n", False))
    return parts


# Constant text: the version, name and checksum come from this project's own migration files.
_RECORD_SQL = (
    "insert into dashboard.schema_migrations (version, name, checksum)\n"
    "values ('{version}', '{name}', '{checksum}') on conflict (version) do nothing;"
)
_COUNT_SQL = """-- The first count of the usage rollups, read from jobs in one snapshot (holds no write to jobs).
select dashboard.recount_job_usage()
where exists (select 1 from dashboard.usage_state where counted_at is null)
  and exists (select 1 from pg_trigger where tgname = 'dashboard_job_usage_insert'
              and tgrelid = to_regclass('public.jobs'));
"""
