"""Usage statistics benchmark: the seed's usage query against ModelService.usage_stats().

Builds a database of N demo jobs (or reuses one), then in one run prints:
  - the time of the seed's usage query and of ModelService.usage_stats() (rollups kept by trigger),
    and their ratio, with unfolded deltas pending and again after a fold;
  - equality checks: usage_stats() against the seed's query on the same data, over all time, right
    after a write, and over several date ranges;
  - the time of a fold;
  - what the usage triggers add to the platform's single-row inserts and status updates on jobs.

Run from the repository root:

    python -m bench.usage_bench --jobs 1000000

Exit status 1 when any equality check fails. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from dashboard.database import SERVICE_ROLE, acting_as, create_db_engine, role_and_claims
from dashboard.demo import add_demo_jobs, seed_demo
from dashboard.queries import models as model_queries
from dashboard.queries import usage as usage_queries
from dashboard.services import ModelService
from dashboard.services.usage import UsageRange
from db.migrate import migrate

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ROW_TRIGGERS = ("dashboard_job_usage_insert", "dashboard_job_usage_update", "dashboard_job_usage_delete")
ALL_TRIGGERS = (*ROW_TRIGGERS, "dashboard_job_usage_truncate")
SORT_KEY = ["display_name", "provider_name", "modality", "task"]
COLUMNS = model_queries.USAGE_COLUMNS
BUILD_MARK = "usage benchmark database, complete build of"
BENCH_EMAIL = "usage-bench-writer@example.com"

_SEED_JOIN = "LEFT JOIN jobs j ON am.id = j.api_model_id"
if _SEED_JOIN not in model_queries.USAGE_STATS.text:
    raise SystemExit("the seed's usage query changed: cannot add a date range to its LEFT JOIN")
# The seed's query with the range added to its LEFT JOIN, so models without jobs in it still appear.
RANGED_SEED_SQL = model_queries.USAGE_STATS.text.replace(
    _SEED_JOIN,
    _SEED_JOIN + " AND j.created_at >= CAST(:start AS timestamptz) AND j.created_at < CAST(:end AS timestamptz)",
)


def say(*parts: object) -> None:
    print(*parts, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def clock(seconds: float) -> str:
    if seconds < 59.5:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s"


# ─── Checks ─────────────────────────────────────────────────────────────────────────────────────
@dataclass
class Checks:
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    folded: int = 0  # deltas this run folded (to tell folds by other sessions apart)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        say(f"  {'PASS' if ok else 'FAIL'}  {name}{f'  ({detail})' if detail else ''}")
        return ok

    @property
    def failed(self) -> list[str]:
        return [name for name, ok, _ in self.results if not ok]


# ─── Databases ──────────────────────────────────────────────────────────────────────────────────
def database_url(server: str, database: str) -> str:
    return make_url(server).set(database=database).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL for psycopg itself (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_mark(maintenance: Engine, name: str) -> str | None:
    with maintenance.connect() as conn:
        return conn.execute(
            sa.text("select shobj_description(oid, 'pg_database') from pg_database where datname = :n"), {"n": name}
        ).scalar()


def drop_database(maintenance: Engine, name: str) -> None:
    with maintenance.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


def set_row_triggers(conn: sa.Connection | psycopg.Connection, enabled: bool) -> None:
    verb = "enable" if enabled else "disable"
    for trigger in ROW_TRIGGERS:
        conn.execute(
            sa.text(f"alter table public.jobs {verb} trigger {trigger}")
            if isinstance(conn, sa.Connection)
            else f"alter table public.jobs {verb} trigger {trigger}"
        )


def build(maintenance: Engine, url: str, name: str, jobs: int) -> float:
    """A fresh database: migrated, demo catalogue and accounts, N jobs loaded with the row triggers off."""
    started = time.perf_counter()
    drop_database(maintenance, name)
    with maintenance.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    engine = create_db_engine(url)
    try:
        migrate(engine)
        seed_demo(engine, jobs=0, bcrypt_rounds=4)
        with engine.begin() as conn:
            set_row_triggers(conn, False)
        step = max(jobs // 10, 1)
        shown = [0]

        def progress(done: int, total: int) -> None:
            if done - shown[0] >= step or done == total:
                shown[0] = done
                say(f"    {done:,} / {total:,} jobs copied ({clock(time.perf_counter() - started)})")

        try:
            add_demo_jobs(engine, jobs=jobs, progress=progress)
        finally:
            with engine.begin() as conn:
                set_row_triggers(conn, True)
        t = time.perf_counter()
        with engine.begin() as conn:
            counted = conn.execute(usage_queries.REBUILD).scalar_one()
        say(f"    recount_job_usage(): {counted:,} jobs counted in {clock(time.perf_counter() - t)}")
        t = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("vacuum analyze"))
        say(f"    vacuum analyze: {clock(time.perf_counter() - t)}")
    finally:
        engine.dispose()
    with maintenance.connect() as conn:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        conn.execute(sa.text(f"comment on database \"{name}\" is '{BUILD_MARK} {jobs} jobs, {stamp}'"))
    return time.perf_counter() - started


# ─── The platform's writes before reading (so that deltas are pending) ─────────────────────────
def recent_writes(engine: Engine, inserts: int = 2000, updates: int = 2000, deletes: int = 200) -> int:
    """Inserts, status and rating changes and deletes through the triggers; returns deltas pending."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            with m as (select array_agg(id order by id) as ids from public.api_models),
                 u as (select array_agg(id order by id) as ids from auth.users where encrypted_password is null),
                 g as (select g, random() as r, random() as s from generate_series(1, :n) g)
            insert into public.jobs (user_id, api_model_id, status, quality_rating, created_at)
            select u.ids[1 + g.g % cardinality(u.ids)],
                   m.ids[1 + floor(g.r * cardinality(m.ids))::int],
                   case when g.s < 0.80 then 'completed' when g.s < 0.88 then 'failed'
                        when g.s < 0.90 then 'cancelled' when g.s < 0.95 then 'processing' else 'queued' end,
                   case when g.s < 0.44 then 1 + g.g % 5 end,
                   now() - random() * interval '72 hours'
            from g, m, u
        """),
            {"n": inserts},
        )
        conn.execute(
            sa.text("""
            create temp table bench_pick on commit drop as
            select id, random() as r, row_number() over () as n
            from (select id from public.jobs where api_model_id is not null order by random() limit :n) s
        """),
            {"n": updates + deletes},
        )
        # A third change only the rating (rated or unrated), the rest move the job to another status.
        conn.execute(
            sa.text("""
            update public.jobs j
            set status = case when p.r < 0.3 then j.status
                              when j.status = 'completed' then 'failed' else 'completed' end,
                quality_rating = case when p.r >= 0.3 then (case when j.status <> 'completed' and p.r < 0.75
                                                                 then 1 + (p.n % 5)::int end)
                                      when j.quality_rating is null then 1 + (p.n % 5)::int end
            from bench_pick p where p.id = j.id and p.n <= :updates
        """),
            {"updates": updates},
        )
        conn.execute(
            sa.text("delete from public.jobs j using bench_pick p where p.id = j.id and p.n > :u"), {"u": updates}
        )
    with engine.connect() as conn:
        return conn.execute(usage_queries.PENDING).scalar_one()


# ─── Reading ────────────────────────────────────────────────────────────────────────────────────
def timed(fn: Callable[[], object], runs: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def seed_frame(engine: Engine, period: UsageRange | None = None) -> pd.DataFrame:
    """The seed's usage query as the table owner (no RLS), verbatim when no range is given."""
    with engine.connect() as conn:
        if period is None:
            result = conn.execute(model_queries.USAGE_STATS)
        else:
            result = conn.execute(sa.text(RANGED_SEED_SQL), range_params(period))
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def range_params(period: UsageRange | None) -> dict[str, str]:
    period = period or UsageRange()
    return {
        "start": period.start.isoformat() if period.start else "-infinity",
        "end": period.end.isoformat() if period.end else "infinity",
    }


def seed_as_admin(engine: Engine, admin_id: UUID) -> pd.DataFrame:
    """The seed's query run as the admin would run it in the app: role authenticated, through RLS."""
    with acting_as(engine, admin_id) as conn:
        conn.execute(sa.text("set local statement_timeout = '15min'"))
        result = conn.execute(model_queries.USAGE_STATS)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def ours(engine: Engine, admin_id: UUID, period: UsageRange | None = None) -> pd.DataFrame:
    return ModelService(engine, user_id=admin_id).usage_stats(period)


def unprepared(engine: Engine) -> Engine:
    """The same database with psycopg's automatic prepared statements off.

    psycopg prepares a statement on its fifth run on a connection, and the server may then keep a
    generic plan for it. Here every call is planned afresh for its actual range, as the first calls
    on any new connection are.
    """
    return sa.create_engine(
        engine.url,
        pool_pre_ping=True,
        connect_args={"prepare_threshold": None, "connect_timeout": 5, "application_name": "api-models-dashboard"},
    )


def time_ours(engine: Engine, admin_id: UUID, runs: int, seed_median: float, label: str) -> tuple[float, float]:
    """usage_stats() timed on the given engine: prints and returns its median and the ratio to the seed."""
    times = timed(lambda: ours(engine, admin_id), runs)
    median = statistics.median(times)
    say(
        f"  usage_stats() as the admin, {label}: median {ms(median)}, min {ms(min(times))}, "
        f"max {ms(max(times))} over {runs} runs after a warm-up; ratio seed / ours {seed_median / median:.0f}x"
    )
    return median, seed_median / median


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in the seed's order, the average converted as usage_stats converts it, rows sorted."""
    frame = frame[COLUMNS].copy()
    frame["avg_quality_rating"] = pd.to_numeric(frame["avg_quality_rating"], errors="coerce").astype(float)
    rest = [c for c in COLUMNS if c not in SORT_KEY]
    return frame.sort_values(SORT_KEY + rest, kind="stable", na_position="last").reset_index(drop=True)


def compare(seed: pd.DataFrame, mine: pd.DataFrame) -> tuple[bool, str]:
    if list(mine.columns) != COLUMNS:
        return False, f"columns {list(mine.columns)} instead of {COLUMNS}"
    a, b = normalised(seed), normalised(mine)
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError as exc:
        detail = " ".join(str(exc).split())[:300]
        if len(a) == len(b):
            differ = (a.fillna(-1) != b.fillna(-1)).any(axis=1)
            if differ.any():
                i = differ.idxmax()
                detail += f"; first differing row: seed {a.loc[i].tolist()} vs ours {b.loc[i].tolist()}"
        return False, detail
    return True, f"{len(a)} models, {int(a['total_jobs'].sum()):,} jobs"


def text_rows(engine: Engine, admin_id: UUID, period: UsageRange | None) -> tuple[list, list]:
    """Both results at SQL level with the average as text: the seed's AVG against the service's SQL."""
    seed_sql = model_queries.USAGE_STATS.text if period is None else RANGED_SEED_SQL
    cols = "display_name, modality, task, provider_name, total_jobs, completed_jobs, failed_jobs"
    with engine.connect() as conn:
        seed = conn.execute(
            # Only constant SQL of this module is formatted in.
            sa.text(f"select {cols}, avg_quality_rating::text from ({seed_sql}) s"),  # noqa: S608
            range_params(period),
        ).all()
    period = period or UsageRange()
    sub = usage_queries.by_model(
        usage_queries.rollup_source(period.start, period.end), usage_queries.model_conditions()
    ).subquery()
    c = sub.c
    stmt = sa.select(
        c.display_name,
        c.modality,
        c.task,
        c.provider_name,
        c.total_jobs,
        c.completed_jobs,
        c.failed_jobs,
        sa.cast(c.avg_quality_rating, sa.Text),
    )
    with acting_as(engine, admin_id) as conn:
        mine = conn.execute(stmt).all()

    def key(row: sa.Row) -> tuple:
        return tuple("" if v is None else str(v) for v in row)

    return sorted(map(tuple, seed), key=key), sorted(map(tuple, mine), key=key)


def check_equal(
    checks: Checks, engine: Engine, admin_id: UUID, label: str, period: UsageRange | None = None, text: bool = True
) -> bool:
    mine = ours(engine, admin_id, period)
    seed = seed_frame(engine, period)
    ok = checks.add(f"{label}: usage_stats() equals the seed's query", *compare(seed, mine))
    if text:
        seed_rows, our_rows = text_rows(engine, admin_id, period)
        same = seed_rows == our_rows
        detail = f"{len(seed_rows)} rows, AVG as text"
        if not same:
            diff = [(s, o) for s, o in zip(seed_rows, our_rows, strict=False) if s != o][:1]
            detail += f"; first difference: {diff}" if diff else f"; {len(seed_rows)} vs {len(our_rows)} rows"
        ok = checks.add(f"{label}: same at SQL level", same, detail) and ok
    return ok


def fresh_writes(engine: Engine) -> str:
    """One new job and one job whose status changed, committed just before reading."""
    with engine.begin() as conn:
        model, user = conn.execute(
            sa.text("""
            select (select id from public.api_models where is_active order by display_name limit 1),
                   (select id from auth.users where encrypted_password is null order by email limit 1)
        """)
        ).one()
        conn.execute(
            sa.text(
                "insert into public.jobs (user_id, api_model_id, status, quality_rating) "
                "values (:u, :m, 'completed', 2)"
            ),
            {"u": user, "m": model},
        )
    with engine.begin() as conn:
        job = conn.execute(
            sa.text("""
            update public.jobs set status = 'failed', quality_rating = null
            where id = (select j.id from public.jobs j join public.api_models m on m.id = j.api_model_id
                        where m.is_active and j.status = 'completed' and j.quality_rating is not null
                        limit 1)
            returning id
        """)
        ).scalar_one()
    return f"inserted a rated job, moved job {job} from completed (rated) to failed"


# ─── Write overhead ─────────────────────────────────────────────────────────────────────────────
INSERT = "insert into public.jobs (user_id, api_model_id, status) values (%s, %s, %s)"
UPDATE = "update public.jobs set status = %s, quality_rating = %s where id = %s"
# What Supabase's API does around each request: one transaction, the caller's role and claims set in it.
ACT_AS = "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"
REVERT = """
    update public.jobs j set status = o.status, quality_rating = o.quality_rating
    from (select unnest(%s::uuid[]) as id, unnest(%s::text[]) as status, unnest(%s::smallint[]) as quality_rating) o
    where j.id = o.id
"""
LOOP_FUNCTIONS = """
create or replace function pg_temp.bench_insert_loop(p_user uuid, p_models uuid[], p_n int) returns float8
language plpgsql as $fn$
declare
  t0 timestamptz := clock_timestamp();
  k int := cardinality(p_models);
begin
  for i in 1..p_n loop
    insert into public.jobs (user_id, api_model_id, status) values (p_user, p_models[1 + i % k], 'queued');
  end loop;
  return extract(epoch from clock_timestamp() - t0);
end
$fn$;
create or replace function pg_temp.bench_update_loop(p_ids uuid[], p_status text[], p_rating smallint[])
returns float8 language plpgsql as $fn$
declare
  t0 timestamptz := clock_timestamp();
begin
  for i in 1..cardinality(p_ids) loop
    update public.jobs set status = p_status[i], quality_rating = p_rating[i] where id = p_ids[i];
  end loop;
  return extract(epoch from clock_timestamp() - t0);
end
$fn$;
"""


def bench_writer(ctl: psycopg.Connection) -> tuple[UUID, list[UUID]]:
    """The account the write tests insert jobs for (created once), and the active models to insert them on."""
    found = ctl.execute("select id from auth.users where email = %s", (BENCH_EMAIL,)).fetchone()
    user = (found or ctl.execute("insert into auth.users (email) values (%s) returning id", (BENCH_EMAIL,)).fetchone())[
        0
    ]
    models = [r[0] for r in ctl.execute("select id from public.api_models where is_active order by id")]
    return user, models


@dataclass
class Pool:
    """Existing jobs to update, with the values to restore afterwards."""

    ids: list[UUID]
    status: list[str]
    rating: list[int | None]
    used: int = 0  # how many take() has handed out

    @classmethod
    def sample(cls, conn: psycopg.Connection, n: int) -> Pool:
        """n random jobs that have a model (so the usage triggers count them)."""
        rows = conn.execute(
            "select id, status, quality_rating from public.jobs where api_model_id is not null "
            "order by random() limit %s",
            (n,),
        ).fetchall()
        return cls([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    def take(self, n: int) -> Pool:
        """The next n jobs not handed out yet, so that no block updates a job another block changed."""
        start, self.used = self.used, self.used + n
        return Pool(self.ids[start : start + n], self.status[start : start + n], self.rating[start : start + n])

    def changed(self) -> tuple[list[str], list[int | None]]:
        """Every job to another status (so the update trigger's WHEN passes), rated when completed."""
        status = ["failed" if s == "completed" else "completed" for s in self.status]
        rating = [None if s == "failed" else 1 + i % 5 for i, s in enumerate(status)]
        return status, rating


@dataclass
class Overhead:
    kind: str
    unit: str
    on: list[float] = field(default_factory=list)  # each operation's time (a loop: per row), triggers enabled
    off: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)  # per round: on block median / off block median - 1
    cpu_on: list[float] = field(default_factory=list)  # loops: server process CPU seconds per row
    cpu_off: list[float] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return (statistics.median(self.on) / statistics.median(self.off) - 1) * 100

    @property
    def cpu_percent(self) -> float | None:
        if not self.cpu_on or not self.cpu_off or not statistics.median(self.cpu_off):
            return None
        return (statistics.median(self.cpu_on) / statistics.median(self.cpu_off) - 1) * 100

    def report(self) -> str:
        spread = sorted(r * 100 for r in self.rounds)
        quart = statistics.quantiles(spread, n=4) if len(spread) >= 4 else [spread[0], 0, spread[-1]]
        line = (
            f"{self.kind}: median {statistics.median(self.off) * 1e6:.0f} µs {self.unit} without the triggers, "
            f"{statistics.median(self.on) * 1e6:.0f} µs with them: {self.percent:+.1f}%; "
            f"paired rounds: median {statistics.median(spread):+.1f}%, middle half {quart[0]:+.1f}% to "
            f"{quart[-1]:+.1f}%, all {spread[0]:+.1f}% to {spread[-1]:+.1f}% ({len(spread)} rounds); "
            f"means {statistics.fmean(self.off) * 1e6:.0f} / {statistics.fmean(self.on) * 1e6:.0f} µs"
        )
        if self.cpu_percent is not None:
            line += (
                f"; server process CPU {statistics.median(self.cpu_off) * 1e6:.0f} / "
                f"{statistics.median(self.cpu_on) * 1e6:.0f} µs per row: {self.cpu_percent:+.1f}%"
            )
        return line


@contextmanager
def triggers_restored(ctl: psycopg.Connection, engine: Engine) -> Iterator[None]:
    """Whatever happens, the row triggers end up enabled; after a failure the rollups are recounted."""
    try:
        yield
    except BaseException:
        set_row_triggers(ctl, True)
        with engine.begin() as conn:
            conn.execute(usage_queries.REBUILD)
        say("  the write test stopped early: triggers re-enabled and rollups recounted")
        raise
    set_row_triggers(ctl, True)


def process_cpu(pid: int) -> Callable[[], float] | None:
    """CPU seconds used so far by a server process, when the server runs on this machine; else None."""
    path = f"/proc/{pid}/stat"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"postgres" not in f.read():
                return None
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None

    def seconds() -> float:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    return seconds


def write_overhead(args: argparse.Namespace, url: str, engine: Engine) -> list[Overhead]:
    """Single-row inserts and status updates with the usage triggers on and off, interleaved.

    Every block undoes its own writes before the triggers are switched again (deletes the jobs it
    inserted, restores the jobs it updated), in the same trigger mode, so writes made while the
    triggers were off never reach the rollups and those stay exact without a rebuild.
    """
    rounds, ops, warmup = args.write_rounds, args.write_ops, args.write_warmup
    loop_rounds, loop_ops = args.loop_rounds, args.loop_ops
    writer = psycopg.connect(libpq_url(url), autocommit=True, application_name="usage-bench-writer")
    ctl = psycopg.connect(libpq_url(url), autocommit=True, application_name="usage-bench-control")
    try:
        user, models = bench_writer(ctl)
        per_block = warmup + ops
        pool = Pool.sample(ctl, 2 * rounds * 2 * per_block + loop_rounds * 2 * loop_ops)
        writer.execute(LOOP_FUNCTIONS)
        cpu = process_cpu(writer.execute("select pg_backend_pid()").fetchone()[0])

        def revert(part: Pool) -> None:
            ctl.execute(REVERT, (part.ids, part.status, part.rating))

        def write(sql: str, params: tuple, act_as: tuple[str, str] | None) -> float:
            """One write, timed: autocommitted, or API-style in a transaction that first sets role and claims."""
            t = time.perf_counter()
            if act_as is None:
                writer.execute(sql, params)
            else:
                with writer.transaction():
                    writer.execute(ACT_AS, act_as)
                    writer.execute(sql, params)
            return time.perf_counter() - t

        def insert_block(act_as: tuple[str, str] | None = None) -> tuple[list[float], float | None]:
            times = [write(INSERT, (user, models[i % len(models)], "queued"), act_as) for i in range(per_block)]
            ctl.execute("delete from public.jobs where user_id = %s", (user,))
            return times[warmup:], None

        def update_block(act_as: tuple[str, str] | None = None) -> tuple[list[float], float | None]:
            part = pool.take(per_block)
            status, rating = part.changed()
            times = [write(UPDATE, (status[i], rating[i], part.ids[i]), act_as) for i in range(per_block)]
            revert(part)
            return times[warmup:], None

        owner, worker = role_and_claims(user), role_and_claims(SERVICE_ROLE)

        def loop(sql: str, params: tuple) -> tuple[list[float], float | None]:
            before = cpu() if cpu else None
            seconds = writer.execute(sql, params).fetchone()[0]
            used = cpu() - before if cpu and before is not None else None
            return [seconds / loop_ops], (used / loop_ops if used is not None else None)

        def loop_insert_block() -> tuple[list[float], float | None]:
            result = loop("select pg_temp.bench_insert_loop(%s, %s::uuid[], %s)", (user, models, loop_ops))
            ctl.execute("delete from public.jobs where user_id = %s", (user,))
            return result

        def loop_update_block() -> tuple[list[float], float | None]:
            part = pool.take(loop_ops)
            status, rating = part.changed()
            result = loop(
                "select pg_temp.bench_update_loop(%s::uuid[], %s::text[], %s::smallint[])", (part.ids, status, rating)
            )
            revert(part)
            return result

        plan = [
            (Overhead("single-row INSERT", "per statement"), insert_block, rounds),
            (Overhead("single-row UPDATE of status", "per statement"), update_block, rounds),
            (
                Overhead("INSERT by the job's owner, API-style (RLS)", "per transaction"),
                lambda: insert_block(owner),
                rounds,
            ),
            (
                Overhead("UPDATE of status by service_role, API-style", "per transaction"),
                lambda: update_block(worker),
                rounds,
            ),
            (Overhead(f"INSERT, {loop_ops:,} in a server-side loop", "per row"), loop_insert_block, loop_rounds),
            (Overhead(f"UPDATE, {loop_ops:,} in a server-side loop", "per row"), loop_update_block, loop_rounds),
        ]
        with triggers_restored(ctl, engine):
            for result, block, n_rounds in plan:
                for r in range(n_rounds):
                    medians = {}
                    for enabled in (True, False) if r % 2 == 0 else (False, True):
                        set_row_triggers(ctl, enabled)
                        times, cpu_per_row = block()
                        (result.on if enabled else result.off).extend(times)
                        if cpu_per_row is not None:
                            (result.cpu_on if enabled else result.cpu_off).append(cpu_per_row)
                        medians[enabled] = statistics.median(times)
                    result.rounds.append(medians[True] / medians[False] - 1)
                say("  " + result.report())
        return [result for result, _, _ in plan]
    finally:
        writer.close()
        ctl.close()


def triggers_state(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select tgname, tgenabled from pg_trigger where tgrelid = 'public.jobs'::regclass and tgname = any(:n)"
            ),
            {"n": list(ALL_TRIGGERS)},
        ).all()
    return {name: state for name, state in rows}


# ─── The run ────────────────────────────────────────────────────────────────────────────────────
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.usage_bench",
        description="Time the seed's usage query against ModelService.usage_stats() on N jobs, check that both "
        "return the same, and measure what the usage triggers add to single-row writes on jobs.",
    )
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the database (default 1,000,000)")
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER),
        help=f"maintenance URL of the server (database postgres); default $BENCH_DATABASE_URL, else {DEFAULT_SERVER}",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database bench_usage_<N> at the end")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a complete bench_usage_<N> database if there is one (no build)"
    )
    parser.add_argument(
        "--writes-only",
        action="store_true",
        help="only the write-overhead test and the equality checks after it (to repeat it, with --reuse)",
    )
    parser.add_argument("--seed-runs", type=int, help="timed runs of the seed's query (default 5; 3 from 5M jobs)")
    parser.add_argument("--ours-runs", type=int, default=30, help="timed runs of usage_stats() (default 30)")
    parser.add_argument("--write-rounds", type=int, default=60, help="interleaved rounds of client writes (60)")
    parser.add_argument("--write-ops", type=int, default=60, help="timed writes per mode per round (60)")
    parser.add_argument("--write-warmup", type=int, default=5, help="untimed writes before each block (5)")
    parser.add_argument("--loop-rounds", type=int, default=8, help="interleaved rounds of server-side loops (8)")
    parser.add_argument("--loop-ops", type=int, default=20_000, help="rows per server-side loop (20,000)")
    return parser.parse_args(argv)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def deltas_deleted(url: str) -> int:
    """Deltas ever deleted, by the server's statistics: folds delete them (rebuilds truncate, uncounted)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return conn.execute(
            "select n_tup_del from pg_stat_user_tables where relid = 'dashboard.job_usage_delta'::regclass"
        ).fetchone()[0]


def check_triggers(checks: Checks, engine: Engine, when: str) -> None:
    state = triggers_state(engine)
    checks.add(f"usage triggers enabled {when}", len(state) == 4 and set(state.values()) == {"O"}, str(state))


def reads(args: argparse.Namespace, engine: Engine, admin_id: UUID, checks: Checks, summary: dict) -> None:
    """Recent writes, the timed reads, the equality checks and the fold."""
    seed_runs = args.seed_runs or (3 if args.jobs >= 5_000_000 else 5)
    say("\n## Recent writes through the triggers (so that unfolded deltas exist when reading)")
    t = time.perf_counter()
    pending = recent_writes(engine)
    say(
        f"  2,000 inserts, 2,000 status/rating changes, 200 deletes in {clock(time.perf_counter() - t)}; "
        f"{pending:,} deltas pending"
    )

    say(f"\n## Reads ({load()})")
    seed_times = timed(lambda: seed_frame(engine), seed_runs)
    seed_median = statistics.median(seed_times)
    say(
        f"  seed's query as the table owner (no RLS): median {ms(seed_median)}, min {ms(min(seed_times))} "
        f"over {seed_runs} runs after a warm-up ({', '.join(ms(s) for s in seed_times)})"
    )
    rls_runs = 1 if args.jobs >= 5_000_000 else 2
    rls_times = timed(lambda: seed_as_admin(engine, admin_id), rls_runs, warmup=0)
    say(
        f"  seed's query as the admin through RLS (role authenticated, for information): "
        f"{', '.join(ms(s) for s in rls_times)}"
    )
    checks.add(
        "the seed's query gives the admin through RLS what it gives the owner",
        *compare(seed_frame(engine), seed_as_admin(engine, admin_id)),
    )
    fresh_engine = unprepared(engine)
    our_median, ratio = time_ours(engine, admin_id, args.ours_runs, seed_median, f"{pending:,} deltas pending")
    fresh_median, fresh_ratio = time_ours(
        fresh_engine, admin_id, args.ours_runs, seed_median, "same, every call planned afresh (no prepared statement)"
    )
    target = 100 if args.jobs >= 10_000_000 else 20 if args.jobs >= 1_000_000 else None
    if target:
        verdict = "met" if min(ratio, fresh_ratio) >= target else "NOT met"
        say(f"  target {target}x: {verdict} (the lower ratio is {min(ratio, fresh_ratio):.0f}x)")

    say("\n## Equality")
    check_equal(checks, engine, admin_id, "all time, deltas pending")
    say(f"  fresh writes: {fresh_writes(engine)}")
    check_equal(checks, engine, admin_id, "all time, right after the writes")
    check_equal(checks, engine, admin_id, "last 24 hours, right after the writes", UsageRange.preset("24h"))
    today = datetime.now(UTC).date()
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for label, period in (
        ("preset 30d", UsageRange.preset("30d")),
        (
            "between_days(today - 120, today - 45)",
            UsageRange.between_days(today - timedelta(days=120), today - timedelta(days=45)),
        ),
        (
            "hours (now - 53 h) to (now - 5 h)",
            UsageRange(start=now_hour - timedelta(hours=53), end=now_hour - timedelta(hours=5)),
        ),
    ):
        check_equal(checks, engine, admin_id, label, period)

    say("\n## Fold")
    fold_seconds, folded = fold(checks, engine, "the fold folded every pending delta")
    folded_median, folded_ratio = time_ours(engine, admin_id, args.ours_runs, seed_median, "after the fold")
    fresh_folded_median, fresh_folded_ratio = time_ours(
        fresh_engine, admin_id, args.ours_runs, seed_median, "after the fold, every call planned afresh"
    )
    fresh_engine.dispose()
    for preset in ("24h", "30d"):
        times = timed(lambda p=preset: ours(engine, admin_id, UsageRange.preset(p)), 10)
        say(
            f"  usage_stats(UsageRange.preset({preset!r})) after the fold, for information: "
            f"median {ms(statistics.median(times))} over 10 runs"
        )
    check_equal(checks, engine, admin_id, "all time, after the fold")
    summary.update(
        {
            "Seed query (median)": ms(seed_median),
            "Ours (median)": f"{ms(our_median)} (unprepared {ms(fresh_median)})",
            "Ratio": f"{ratio:.0f}x ({fresh_ratio:.0f}x)",
            "Ours after fold": f"{ms(folded_median)} ({ms(fresh_folded_median)})",
            "Ratio after fold": f"{folded_ratio:.0f}x ({fresh_folded_ratio:.0f}x)",
            "Fold": f"{ms(fold_seconds)} ({folded:,} deltas)",
        }
    )


def fold(checks: Checks, engine: Engine, label: str) -> tuple[float, int]:
    """Two fold_job_usage() calls, timed: the writers' tables take turns (0013), so the first folds the table they
    left and switches them, the second folds the one they wrote until then. Both tables are then empty (a fold
    truncates what it folded: no vacuum needed)."""
    with engine.connect() as conn:
        pending = conn.execute(usage_queries.PENDING).scalar_one()
    t = time.perf_counter()
    folded = 0
    for _ in range(2):
        with engine.begin() as conn:
            folded += conn.execute(usage_queries.FOLD).scalar_one()
    seconds = time.perf_counter() - t
    say(f"  fold_job_usage() twice: {folded:,} of {pending:,} deltas folded in {ms(seconds)}")
    checks.add(label, folded == pending, f"{folded:,} of {pending:,}")
    checks.folded += folded
    return seconds, folded


def writes(args: argparse.Namespace, url: str, engine: Engine, admin_id: UUID, checks: Checks, summary: dict) -> None:
    say(f"\n## Write overhead of the usage triggers ({load()})")
    say(
        f"  autocommitted single-row writes from a psycopg client: {args.write_rounds} rounds x "
        f"{args.write_ops} timed writes per mode (after {args.write_warmup} untimed), alternating which mode goes "
        "first; the same API-style (a transaction that sets the caller's role and claims, then the write); then "
        f"{args.loop_rounds} rounds of a {args.loop_ops:,}-row plpgsql loop per mode, timed inside the server"
    )
    t = time.perf_counter()
    ins, upd, api_ins, api_upd, loop_ins, loop_upd = write_overhead(args, url, engine)
    say(f"  write test: {clock(time.perf_counter() - t)} ({load()})")
    check_triggers(checks, engine, "after the write test")
    with engine.connect() as conn:
        pending = conn.execute(usage_queries.PENDING).scalar_one()
    say(f"  {pending:,} deltas pending after the write test (no rebuild, no fold)")
    check_equal(checks, engine, admin_id, "all time, after the write test")
    check_equal(checks, engine, admin_id, "last 24 hours, after the write test", UsageRange.preset("24h"))
    backlog = timed(lambda: ours(engine, admin_id), 3)
    say(
        f"  usage_stats() with these {pending:,} deltas unfolded, for information: median "
        f"{ms(statistics.median(backlog))} over 3 runs"
    )
    fold_seconds, folded = fold(checks, engine, "the fold of the write test's deltas folded them all")
    check_equal(checks, engine, admin_id, "all time, after folding the write test's deltas")

    def loop_figure(result: Overhead) -> str:
        cpu = f", CPU {result.cpu_percent:+.0f}%" if result.cpu_percent is not None else ""
        return f"loop {result.percent:+.0f}%{cpu}"

    summary["Fold"] = "; ".join(filter(None, [summary.get("Fold"), f"{ms(fold_seconds)} ({folded:,} deltas)"]))
    summary["Insert overhead"] = f"{ins.percent:+.1f}% ({loop_figure(loop_ins)})"
    summary["Update overhead"] = f"{upd.percent:+.1f}% ({loop_figure(loop_upd)})"
    summary["API-style insert / update"] = f"{api_ins.percent:+.1f}% / {api_upd.percent:+.1f}%"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_started = time.perf_counter()
    name = f"bench_usage_{args.jobs}"
    url = database_url(args.server, name)
    checks = Checks()
    maintenance = create_db_engine(args.server).execution_options(isolation_level="AUTOCOMMIT")
    with maintenance.connect() as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
        settings = dict(
            conn.execute(
                sa.text(
                    "select name, setting || coalesce(unit, '') from pg_settings where name in "
                    "('shared_buffers', 'work_mem', 'synchronous_commit', 'max_parallel_workers_per_gather', 'jit')"
                )
            ).all()
        )
    say(f"# Usage benchmark, {args.jobs:,} jobs — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say(f"server: {version}")
    say(f"cores: {os.cpu_count()} (client and server on the same machine); {load()}")
    say("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))

    mark = build_mark(maintenance, name)
    build_seconds = None
    if args.reuse and mark and mark.startswith(f"{BUILD_MARK} {args.jobs} jobs"):
        say(f"\n## Build\n  reusing {name} ({mark})")
        reused = create_db_engine(url)
        try:
            applied = migrate(reused)  # a database kept from before a new migration gets it now
        finally:
            reused.dispose()
        if applied:
            say(f"  migrations applied now: {', '.join(applied)}")
    else:
        say(f"\n## Build of {name}")
        build_seconds = build(maintenance, url, name, args.jobs)
        say(f"  build time: {clock(build_seconds)}")

    engine = create_db_engine(url)
    summary: dict[str, str] = {"Jobs": f"{args.jobs:,}"}
    try:
        with engine.connect() as conn:
            admin_id = conn.execute(sa.text("select id from auth.users where email = 'admin@example.com'")).scalar_one()
            total = conn.execute(sa.text("select count(*) from public.jobs")).scalar_one()
            sizes = conn.execute(
                sa.text(
                    "select pg_size_pretty(pg_total_relation_size('public.jobs')), "
                    "(select count(*) from dashboard.job_usage_daily), "
                    "(select count(*) from dashboard.job_usage_hourly)"
                )
            ).one()
        say(f"  jobs: {total:,} ({sizes[0]} with indexes); rollup rows: {sizes[1]:,} daily, {sizes[2]:,} hourly")
        check_triggers(checks, engine, "before the run")
        deleted_before = deltas_deleted(url)
        if not args.writes_only:
            reads(args, engine, admin_id, checks, summary)
        writes(args, url, engine, admin_id, checks, summary)
        engine.dispose()  # sessions that end report their statistics
        time.sleep(1)
        by_others = deltas_deleted(url) - deleted_before - checks.folded
        if by_others > 0:
            say(
                f"\nWARNING: another session folded {by_others:,} deltas during this run (the fold figures only "
                "cover what this run folded itself)"
            )
        summary["Equality"] = ("PASS" if not checks.failed else f"FAIL ({len(checks.failed)})") + (
            f" ({len(checks.results)} checks)"
        )
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(maintenance, name)
            say(f"\ndropped {name}")
        maintenance.dispose()

    order = [
        "Jobs",
        "Seed query (median)",
        "Ours (median)",
        "Ratio",
        "Ours after fold",
        "Ratio after fold",
        "Equality",
        "Fold",
        "Insert overhead",
        "Update overhead",
        "API-style insert / update",
    ]
    columns = [c for c in order if c in summary]
    say("\n## Summary\n")
    say("| " + " | ".join(columns) + " |")
    say("|" + "|".join("---" for _ in columns) + "|")
    say("| " + " | ".join(summary[c] for c in columns) + " |")
    say(
        f"\nbuild: {clock(build_seconds) if build_seconds is not None else 'reused'}; "
        f"whole run: {clock(time.perf_counter() - run_started)}; {load()}"
    )
    if checks.failed:
        say("FAILED: " + "; ".join(checks.failed))
        return 1
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
