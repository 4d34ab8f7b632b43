"""What migrating does to a database whose platform tables already exist, and the steps that cannot run
inside a migration's transaction.

The SQL files look before they act and touch only what they created (dashboard.created_objects). Two
steps here run after them, each safe to repeat and to interrupt:
- the seed's five indexes, built CONCURRENTLY where api_models lacks them, so the platform's writes to
  api_models go on meanwhile; an index left invalid by an interrupted build is dropped and built again;
- the first count of the usage rollups, read from jobs in one snapshot without holding its writes.
`inspect_shape` and `plan` say beforehand what migrating will do; `rule_findings` lists the rows of a
live api_models that break the seed's rules, which the database is not asked to enforce there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The seed's recommended indexes (its "Indexing Recommendations", by name), as PostgreSQL prints them
# after "USING": an existing index with the same definition under any name counts as present.
SEED_INDEXES = {
    "idx_api_models_active": "btree (is_active, priority)",
    "idx_api_models_modality_task": "btree (modality, task, is_active)",
    "idx_api_models_provider": "btree (provider_id, is_active)",
    "idx_api_models_default": "btree (is_default, modality, task) WHERE (is_default = true)",
    "idx_api_models_priority": "btree (priority, is_active)",
}


def seed_index_sql(name: str) -> str:
    """CREATE INDEX CONCURRENTLY for one of the seed's indexes (names and definitions are constants above)."""
    columns = SEED_INDEXES[name].removeprefix("btree ").replace("WHERE (is_default = true)", "where is_default = true")
    return f"create index concurrently if not exists {name} on public.api_models {columns}"


_DROP_INVALID = {name: f"drop index concurrently if exists public.{name}" for name in SEED_INDEXES}
_INDEXES = """
select c.relname as name, i.indisvalid as valid, split_part(pg_get_indexdef(i.indexrelid), ' USING ', 2) as definition
from pg_index i join pg_class c on c.oid = i.indexrelid
where i.indrelid = to_regclass('public.api_models')
"""
_USAGE_UNCOUNTED = """
select to_regclass('dashboard.usage_state') is not null
   and exists (select 1 from dashboard.usage_state where counted_at is null)
   and exists (select 1 from pg_trigger where tgname = 'dashboard_job_usage_insert'
               and tgrelid = to_regclass('public.jobs'))
"""
PLATFORM_TABLES = (
    "auth.users",
    "public.profiles",
    "public.user_roles",
    "public.api_providers",
    "public.api_models",
    "public.jobs",
)
MODALITIES = ("text", "image", "video", "audio")


# The usage rollups recounted from jobs, then laid out by time (migration 0019); returns the jobs counted.
RECOUNT = "select dashboard.recount_job_usage()"
# After a recount: marks the rollups' pages all-visible, which the per-day chart's index-only reads need (autovacuum
# may not come for weeks on a large table), and gives the planner their new sizes. Outside a transaction.
VACUUM_ROLLUPS = (
    "vacuum (analyze) dashboard.job_usage_hourly, dashboard.job_usage_daily, dashboard.job_latency_hourly, "
    "dashboard.job_latency_daily"
)


def recount_usage(pg) -> int:
    """Recount the usage rollups from jobs, laid out by time and vacuumed; the jobs counted. pg: a psycopg
    connection in autocommit, of the schema's owner (the recount rewrites the rollups)."""
    counted = pg.execute(RECOUNT).fetchone()[0]
    pg.execute(VACUUM_ROLLUPS)
    return int(counted)


def finish_attaching(pg) -> list[str]:
    """The steps that run outside a transaction, on a psycopg connection in autocommit; what they did."""
    # Said only of the platform's tables: on tables the migrations just created, this is their own business.
    ours = {row[0] for row in pg.execute("select object from dashboard.created_objects").fetchall()}
    done = []
    for name in missing_seed_indexes(pg, rebuild_invalid=True):
        pg.execute(seed_index_sql(name))
        if "public.api_models" not in ours:
            done.append(f"built index {name} on public.api_models (concurrently)")
    if pg.execute(_USAGE_UNCOUNTED).fetchone()[0]:
        counted = recount_usage(pg)
        if "public.jobs" not in ours:
            done.append(f"counted {counted:,} existing jobs into the usage rollups")
    return done


def missing_seed_indexes(pg, *, rebuild_invalid: bool = False) -> list[str]:
    """The seed's indexes api_models lacks; an invalid one (an interrupted build) is dropped first if asked."""
    rows = pg.execute(_INDEXES).fetchall()
    if not rows and pg.execute("select to_regclass('public.api_models')").fetchone()[0] is None:
        return []
    present = {definition for _, valid, definition in rows if valid}
    invalid = {name for name, valid, _ in rows if not valid}
    missing = []
    for name, definition in SEED_INDEXES.items():
        if definition in present:
            continue
        if name in invalid:
            if not rebuild_invalid:
                missing.append(name)
                continue
            pg.execute(_DROP_INVALID[name])  # the name is one of the constants above
        elif name in {row[0] for row in rows}:
            continue  # a valid index of theirs by that name, defined otherwise: theirs to keep
        missing.append(name)
    return missing


@dataclass
class Shape:
    """What a database has before the dashboard migrates it."""

    tables: dict[str, list[str]] = field(default_factory=dict)  # existing platform table -> its columns
    column_types: dict[str, str] = field(default_factory=dict)  # "public.jobs.status" -> its type
    has_auth_uid: bool = False
    has_has_role: bool = False
    can_create_in_auth: bool = False
    pending: list[str] = field(default_factory=list)  # migration versions not applied yet
    ours: set[str] = field(default_factory=set)  # platform objects the dashboard created earlier
    missing_indexes: list[str] = field(default_factory=list)
    has_pg_cron: bool = False

    @property
    def live(self) -> bool:
        """The platform's catalogue was there before the dashboard."""
        return "public.api_models" in self.tables and "public.api_models" not in self.ours


_TABLE_COLUMNS = """
select n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where (n.nspname || '.' || c.relname) = any(%s) and c.relkind in ('r', 'p')
order by 1, a.attnum
"""


def inspect_shape(pg, pending: list[str]) -> Shape:
    """Read what exists (changes nothing)."""
    shape = Shape(pending=list(pending))
    for table, column, type_ in pg.execute(_TABLE_COLUMNS, (list(PLATFORM_TABLES),)).fetchall():
        shape.tables.setdefault(table, []).append(column)
        shape.column_types[f"{table}.{column}"] = type_
    one = lambda sql: pg.execute(sql).fetchone()[0]  # noqa: E731
    shape.has_auth_uid = one(
        "select exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = 'auth' and p.proname = 'uid')"
    )
    shape.has_has_role = one(
        "select exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = 'public' and p.proname = 'has_role')"
    )
    shape.can_create_in_auth = one(
        "select coalesce((select has_schema_privilege(oid, 'CREATE') from pg_namespace where nspname = 'auth'), true)"
    )
    shape.has_pg_cron = one("select to_regproc('cron.schedule') is not null")
    if one("select to_regclass('dashboard.created_objects') is not null"):
        shape.ours = {row[0] for row in pg.execute("select object from dashboard.created_objects").fetchall()}
    shape.missing_indexes = missing_seed_indexes(pg) if "public.api_models" in shape.tables else list(SEED_INDEXES)
    return shape


def plan(shape: Shape) -> list[tuple[str, list[str]]]:
    """What migrating will do to a database of this shape, in sections of lines, before anything is done."""
    create: list[str] = []
    add: list[str] = []
    never: list[str] = []
    if shape.has_pg_cron:
        schedule = (
            "schedule anything unasked: pg_cron is there, and `migrate --schedule-fold` has it fold usage "
            "every minute (reads already fold when they need to; this keeps every read fast)"
        )
    else:
        schedule = "schedule anything: pg_cron is not installed (reads fold when they need to)"
    if not shape.pending and not shape.missing_indexes:
        return [
            ("Nothing to do", ["every migration is applied and the seed's indexes are there"]),
            ("Will not", [schedule]),
        ]
    if shape.pending:
        create.append(
            f"apply migrations {', '.join(shape.pending)}; everything they create is in schema dashboard "
            "(migration records, audit log, usage rollups, sign-in attempts), with RLS on and nothing "
            "granted to anon"
        )
    for table in PLATFORM_TABLES:
        if table not in shape.tables:
            create.append(f"create {table} (the database has none), with its RLS policies and grants")
    if "auth.users" in shape.tables and shape.has_auth_uid:
        never.append(
            "create, alter or grant anything in schema auth (auth.users and auth.uid() exist"
            + ("" if shape.can_create_in_auth else "; this role may not create there anyway")
            + ")"
        )
    elif not shape.can_create_in_auth:
        never.append(
            "migrate: schema auth exists without auth.users or auth.uid(), and this role may not create "
            "there; migration 0001 will fail"
        )
    existing = [t for t in PLATFORM_TABLES if t in shape.tables and t not in shape.ours]
    if "public.api_models" in existing or "public.api_providers" in existing:
        catalogue = [t for t in ("public.api_models", "public.api_providers") if t in existing]
        add.append(
            f"{' and '.join(catalogue)}: two AFTER triggers each, audit (one row per write into "
            "dashboard.audit_log) and a statement trigger bumping a sequence for caches; CREATE TRIGGER "
            "takes SHARE ROW EXCLUSIVE for milliseconds (waits at most 10 s for running writers)"
        )
    if "public.jobs" in existing:
        add.extend(_jobs_plan(shape))
    if "public.api_models" in shape.tables:
        for name in shape.missing_indexes:
            add.append(
                f"public.api_models: index {name} ({SEED_INDEXES[name]}), CREATE INDEX CONCURRENTLY: "
                "writes go on meanwhile; an interrupted build is dropped and built again next time"
            )
    if existing:
        tables = ", ".join(existing)
        never.append(f"change a column, constraint, comment, grant, policy or existing trigger of {tables}")
        never.append(
            "add a CHECK, a unique index or a BEFORE trigger to those tables (each could refuse or change "
            "a write the platform makes); rows breaking the seed's rules are reported instead"
        )
    if "public.has_role" not in shape.ours and shape.has_has_role:
        never.append("replace public.has_role(): the platform's own is used as it is")
    never.append(schedule)
    return [("Will create", create), ("Will add to the platform's existing tables", add), ("Will not", never)]


def _jobs_plan(shape: Shape) -> list[str]:
    types = shape.column_types
    columns = shape.tables["public.jobs"]
    if types.get("public.jobs.api_model_id") != "uuid" or "status" not in columns or "created_at" not in columns:
        return ["public.jobs: nothing (usage is not counted: it needs api_model_id (uuid), status and created_at)"]
    rating = types.get("public.jobs.quality_rating")
    notes = [f"status compared as text ({types['public.jobs.status']})"]
    if rating in ("smallint", "integer"):
        notes.append("ratings counted")
    else:
        notes.append("ratings not counted (" + (f"quality_rating is {rating}" if rating else "no quality_rating") + ")")
    return [
        "public.jobs: AFTER INSERT and DELETE statement triggers (one grouped insert per statement; row triggers "
        "where jobs is partitioned or inherited), an AFTER UPDATE row trigger that only a change of model, status, "
        "rating or creation time calls, and an AFTER TRUNCATE trigger, each writing into one of our two delta "
        f"tables ({'; '.join(notes)}); CREATE TRIGGER takes SHARE ROW EXCLUSIVE for milliseconds (waits at most "
        "10 s for running writers); replacing 0013's row triggers by statement triggers drops them, which takes "
        "ACCESS EXCLUSIVE for milliseconds (waits at most 2 s, so reads too are held up at most that long)",
        "public.jobs: one read of every job to count the usage rollups, in one snapshot; no lock that holds writes",
    ]


FOLD_JOB = "dashboard-fold-job-usage"


class NoScheduler(Exception):
    """The database has no pg_cron to schedule the fold with."""


def schedule_fold(pg) -> None:
    """Have pg_cron fold usage every minute (cron.schedule with a job name replaces an earlier one of that name)."""
    if pg.execute("select to_regproc('cron.schedule')").fetchone()[0] is None:
        raise NoScheduler(
            "pg_cron is not installed in this database: add its line to your crontab instead "
            "(docs/production.md), or let reads fold when they need to"
        )
    pg.execute("select cron.schedule(%s, '* * * * *', 'select dashboard.fold_job_usage()')", (FOLD_JOB,))
