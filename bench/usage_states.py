"""Usage reads in the states a platform reaches, with nobody having opened the dashboard: the seed's usage query
beside ModelService.usage_stats(), the first read after the state and the reads after it, with equality checks.

States, in one run on one database of about N jobs:
  1. after a bulk backfill: 98% of the jobs inserted by one INSERT ... SELECT with the triggers on (a backlog of
     as many deltas), nothing folded;
  2. after that is folded (by the reads of state 1 and their background fold);
  3. after a day of single-row writes, nobody folding: N/20 single-row inserts and N/10 single-row status
     updates (server-side, each its own statement through the triggers);
  4. after a fold.
Also: the bulk INSERT ... SELECT's own time with the triggers on and off.

Run from the repository root (a PostgreSQL server of your own; the database bench_states_<N> is dropped at the
end unless --keep):

    python -m bench.usage_states --jobs 1000000

Exit status 1 when an equality check fails. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from uuid import UUID

import sqlalchemy as sa

from bench.usage_bench import DEFAULT_SERVER, clock, compare, database_url, drop_database, ms, ours, say, seed_frame
from dashboard.database import create_db_engine
from dashboard.demo import seed_demo
from dashboard.queries import usage as usage_queries
from dashboard.services import usage_folding
from dashboard.services.usage import UsageService
from db.migrate import migrate

# 98% of the jobs in one statement, spread over the demo's models, statuses and the last 180 days.
_BACKFILL = """
insert into jobs (user_id, api_model_id, status, quality_rating, created_at)
select null, m.ids[1 + (i % array_length(m.ids, 1))],
       (array['completed', 'completed', 'completed', 'failed', 'queued', 'cancelled'])[1 + i % 6],
       case when i % 3 = 0 then 1 + i % 5 end,
       now() - make_interval(secs => (i % 15552000))
from generate_series(1, :n) i, (select array_agg(id order by model_key) as ids from api_models) m
"""
_SINGLE_ROW_DAY = """
do $do$
declare
  ids uuid[] := (select array_agg(id order by model_key) from api_models);
  job uuid;
begin
  for i in 1..{inserts} loop
    insert into jobs (api_model_id, status, created_at) values (ids[1 + mod(i, array_length(ids, 1))], 'queued', now());
  end loop;
  for job in select id from jobs order by created_at desc limit {updates} loop
    update jobs set status = 'completed', quality_rating = 4 where id = job;
  end loop;
end
$do$
"""


def _pending(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return conn.execute(usage_queries.PENDING).scalar_one(), conn.execute(usage_queries.BACKLOG).one().pending


def _admin(engine) -> UUID:
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from auth.users where email = 'admin@example.com'")).scalar_one()


def _state(label: str, engine, admin: UUID, runs: int, seed_runs: int, rows: list, failures: list) -> None:
    rows_pending, bytes_pending = _pending(engine)
    t = time.perf_counter()
    first = ours(engine, admin)
    first_s = time.perf_counter() - t
    seed_times = []
    for _ in range(seed_runs):
        t = time.perf_counter()
        seed = seed_frame(engine)
        seed_times.append(time.perf_counter() - t)
    ok, why = compare(seed, first)
    if not ok:
        failures.append(f"{label}, first read: {why}")
    # Let a background fold the first read started finish (it runs in this process), as later clicks would.
    usage_folding.wait_for_background_folds(600)
    later = []
    for _ in range(runs):
        t = time.perf_counter()
        mine = ours(engine, admin)
        later.append(time.perf_counter() - t)
    ok, why = compare(seed_frame(engine), mine)
    if not ok:
        failures.append(f"{label}, later reads: {why}")
    seed_median, later_median = statistics.median(seed_times), statistics.median(later)
    rows.append((label, rows_pending, bytes_pending, seed_median, first_s, later_median))
    say(
        f"  {label}: {rows_pending:,} deltas ({bytes_pending / 2**20:.1f} MiB) pending; seed {ms(seed_median)}, "
        f"first read {ms(first_s)} ({seed_median / first_s:.1f}x), later reads {ms(later_median)} "
        f"({seed_median / later_median:.0f}x); equal: {'yes' if not failures else 'NO'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.usage_states", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--runs", type=int, default=15, help="timed reads after each state's first (15)")
    parser.add_argument("--seed-runs", type=int, default=3, help="timed runs of the seed's query per state (3)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    usage_folding.KEEP_FOLDED_SECONDS = None  # nobody folds but the reads: the states must stay as made
    name = f"bench_states_{args.jobs}"
    maintenance = create_db_engine(args.server).execution_options(isolation_level="AUTOCOMMIT")
    drop_database(maintenance, name)
    with maintenance.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    engine = create_db_engine(database_url(args.server, name))
    rows: list = []
    failures: list[str] = []
    try:
        migrate(engine)
        seed_demo(engine, jobs=args.jobs // 50, bcrypt_rounds=4)
        admin = _admin(engine)
        backfill = args.jobs - args.jobs // 50
        say(f"bench_states: {args.jobs:,} jobs, PostgreSQL {engine.dialect.server_version_info}")

        # The bulk statement's cost with and without the triggers (the same rows, removed again in between).
        with engine.begin() as conn:
            conn.execute(sa.text("alter table jobs disable trigger user"))
            t = time.perf_counter()
            conn.execute(sa.text(_BACKFILL), {"n": backfill})
            off = time.perf_counter() - t
            conn.execute(sa.text("delete from jobs where user_id is null"))
            conn.execute(sa.text("alter table jobs enable trigger user"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("vacuum analyze jobs"))
        with engine.begin() as conn:
            t = time.perf_counter()
            conn.execute(sa.text(_BACKFILL), {"n": backfill})
            on = time.perf_counter() - t
        say(
            f"  bulk INSERT ... SELECT of {backfill:,} jobs: {clock(off)} without the triggers, {clock(on)} with "
            f"them ({(on / off - 1) * 100:+.0f}%)"
        )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("analyze"))

        _state("1. after a bulk backfill", engine, admin, args.runs, args.seed_runs, rows, failures)
        _state("2. after its fold", engine, admin, args.runs, args.seed_runs, rows, failures)
        with engine.begin() as conn:
            t = time.perf_counter()
            conn.connection.driver_connection.execute(
                _SINGLE_ROW_DAY.format(inserts=args.jobs // 20, updates=args.jobs // 10)
            )
        say(
            f"  a day of single-row writes ({args.jobs // 20:,} inserts, {args.jobs // 10:,} status updates): "
            f"{clock(time.perf_counter() - t)}"
        )
        _state("3. after a day of single-row writes", engine, admin, args.runs, args.seed_runs, rows, failures)
        t = time.perf_counter()
        folded = UsageService(engine, user_id=admin).fold()
        say(f"  fold: {folded:,} deltas in {clock(time.perf_counter() - t)}")
        _state("4. after a fold", engine, admin, args.runs, args.seed_runs, rows, failures)

        say("")
        say("| state | deltas pending | seed query | first read | later reads (median) | later vs seed |")
        say("|---|---|---|---|---|---|")
        for label, pending, _bytes, seed_s, first_s, later_s in rows:
            say(
                f"| {label} | {pending:,} | {ms(seed_s)} | {ms(first_s)} ({seed_s / first_s:.1f}x) | {ms(later_s)} "
                f"| {seed_s / later_s:.0f}x |"
            )
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(maintenance, name)
    for failure in failures:
        say(f"EQUALITY FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
