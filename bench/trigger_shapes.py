"""The usage triggers of migration 0009 against those of 0005, on the same database, in the same minutes.

0005 wrote two delta rows per status update and computed the hour bucket and rating sums in the
trigger; 0009 writes one row and computes nothing. This script installs 0005's trigger bodies next to
the current ones (writing to a scratch table) and times single-row inserts and status updates with
no usage trigger, with 0005's, and with the current ones: from a client (autocommitted, one statement
each) and in a server-side loop (server process CPU). The modes are interleaved, each block undoes its
own writes in its own mode, and everything it added is removed at the end.

    python -m bench.trigger_shapes --jobs 1000000      # on the database usage_bench built (--keep)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import psycopg

from bench.usage_bench import (
    DEFAULT_SERVER,
    INSERT,
    LOOP_FUNCTIONS,
    REVERT,
    UPDATE,
    Pool,
    bench_writer,
    database_url,
    libpq_url,
    load,
    process_cpu,
    say,
)

# 0005's trigger bodies, writing to a scratch table of 0005's delta shape.
SHAPE_0005 = """
create schema bench_shapes;
create table bench_shapes.delta_0005 (api_model_id uuid not null, status text not null, bucket timestamptz not null,
  jobs bigint not null, rated bigint not null, rating_sum bigint not null);
create function bench_shapes.insert_0005() returns trigger language plpgsql security definer as $fn$
begin
  insert into bench_shapes.delta_0005 (api_model_id, status, bucket, jobs, rated, rating_sum)
  values (new.api_model_id, new.status, pg_catalog.date_trunc('hour', new.created_at, 'UTC'), 1,
          case when new.quality_rating is null then 0 else 1 end, coalesce(new.quality_rating, 0));
  return null;
end $fn$;
create function bench_shapes.update_0005() returns trigger language plpgsql security definer as $fn$
begin
  if old.api_model_id is not null then
    insert into bench_shapes.delta_0005 (api_model_id, status, bucket, jobs, rated, rating_sum)
    values (old.api_model_id, old.status, pg_catalog.date_trunc('hour', old.created_at, 'UTC'), -1,
            case when old.quality_rating is null then 0 else -1 end,
            operator(pg_catalog.-) coalesce(old.quality_rating, 0));
  end if;
  if new.api_model_id is not null then
    insert into bench_shapes.delta_0005 (api_model_id, status, bucket, jobs, rated, rating_sum)
    values (new.api_model_id, new.status, pg_catalog.date_trunc('hour', new.created_at, 'UTC'), 1,
            case when new.quality_rating is null then 0 else 1 end, coalesce(new.quality_rating, 0));
  end if;
  return null;
end $fn$;
create trigger bench_shapes_insert after insert on public.jobs
  for each row when (new.api_model_id is not null) execute function bench_shapes.insert_0005();
create trigger bench_shapes_update after update on public.jobs
  for each row
  when (old.api_model_id is distinct from new.api_model_id or old.status is distinct from new.status
        or old.quality_rating is distinct from new.quality_rating or old.created_at is distinct from new.created_at)
  execute function bench_shapes.update_0005();
"""
# Which triggers each mode enables (the rest of these four are disabled).
MODES = {
    "none": (),
    "0005": ("bench_shapes_insert", "bench_shapes_update"),
    "current": ("dashboard_job_usage_insert", "dashboard_job_usage_update", "dashboard_job_usage_delete"),
}
# The current delete trigger is switched with the others: the blocks delete the jobs they inserted, and
# a delete counted for an insert that was not would leave the rollups one job short.
SWITCHED = ("bench_shapes_insert", "bench_shapes_update", *MODES["current"])
# Every job with a model counted exactly once, whatever the blocks did.
EXACT = """
select (select count(*) from public.jobs where api_model_id is not null),
       (select coalesce(sum(jobs), 0) from dashboard.job_usage_daily)
     + (select count(*) from dashboard.job_usage_delta where api_model_id is not null)
     - (select count(*) from dashboard.job_usage_delta where old_api_model_id is not null)
"""


def restore(ctl: psycopg.Connection) -> None:
    ctl.execute("drop schema if exists bench_shapes cascade")  # its two triggers go with it
    for trigger in MODES["current"]:
        ctl.execute(f"alter table public.jobs enable trigger {trigger}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.trigger_shapes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="use the database bench_usage_<N> (1,000,000)")
    parser.add_argument("--server", default=DEFAULT_SERVER, help=f"maintenance URL of the server ({DEFAULT_SERVER})")
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds of client writes (40)")
    parser.add_argument("--ops", type=int, default=100, help="timed client writes per mode per round (100)")
    parser.add_argument("--loop-rounds", type=int, default=6, help="interleaved rounds of server-side loops (6)")
    parser.add_argument("--loop-ops", type=int, default=20_000, help="rows per server-side loop (20,000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = libpq_url(database_url(args.server, f"bench_usage_{args.jobs}"))
    ctl = psycopg.connect(url, autocommit=True, application_name="trigger-shapes-control")
    writer = psycopg.connect(url, autocommit=True, application_name="trigger-shapes-writer")
    say(f"# Usage trigger shapes, bench_usage_{args.jobs} — {load()}")
    ctl.execute("drop schema if exists bench_shapes cascade")
    ctl.execute(SHAPE_0005)
    try:
        user, models = bench_writer(ctl)
        pool = Pool.sample(ctl, args.rounds * len(MODES) * args.ops + args.loop_rounds * len(MODES) * args.loop_ops)
        writer.execute(LOOP_FUNCTIONS)
        cpu = process_cpu(writer.execute("select pg_backend_pid()").fetchone()[0])

        def client_inserts() -> float:
            times = []
            for i in range(args.ops):
                t = time.perf_counter()
                writer.execute(INSERT, (user, models[i % len(models)], "queued"))
                times.append(time.perf_counter() - t)
            ctl.execute("delete from public.jobs where user_id = %s", (user,))
            return statistics.median(times)

        def client_updates() -> float:
            part = pool.take(args.ops)
            status, rating = part.changed()
            times = []
            for i in range(args.ops):
                t = time.perf_counter()
                writer.execute(UPDATE, (status[i], rating[i], part.ids[i]))
                times.append(time.perf_counter() - t)
            ctl.execute(REVERT, (part.ids, part.status, part.rating))
            return statistics.median(times)

        def loop(sql: str, params: tuple) -> float:
            before = cpu() if cpu else time.perf_counter()
            writer.execute(sql, params)
            return ((cpu() if cpu else time.perf_counter()) - before) / args.loop_ops

        def loop_inserts() -> float:
            seconds = loop("select pg_temp.bench_insert_loop(%s, %s::uuid[], %s)", (user, models, args.loop_ops))
            ctl.execute("delete from public.jobs where user_id = %s", (user,))
            return seconds

        def loop_updates() -> float:
            part = pool.take(args.loop_ops)
            status, rating = part.changed()
            seconds = loop(
                "select pg_temp.bench_update_loop(%s::uuid[], %s::text[], %s::smallint[])", (part.ids, status, rating)
            )
            ctl.execute(REVERT, (part.ids, part.status, part.rating))
            return seconds

        tests: list[tuple[str, Callable[[], float], int]] = [
            ("client INSERT, µs per statement", client_inserts, args.rounds),
            ("client UPDATE of status, µs per statement", client_updates, args.rounds),
            ("loop INSERT, server CPU µs per row", loop_inserts, args.loop_rounds),
            ("loop UPDATE of status, server CPU µs per row", loop_updates, args.loop_rounds),
        ]
        say("| Test | No usage trigger | 0005 | Current (0009) | 0005 over none | Current over none |")
        say("|---|---|---|---|---|---|")
        for label, block, rounds in tests:
            per_mode: dict[str, list[float]] = {mode: [] for mode in MODES}
            for r in range(rounds):
                names = list(MODES)
                for mode in names[r % len(names) :] + names[: r % len(names)]:
                    for trigger in SWITCHED:
                        verb = "enable" if trigger in MODES[mode] else "disable"
                        ctl.execute(f"alter table public.jobs {verb} trigger {trigger}")
                    per_mode[mode].append(block())
            med = {mode: statistics.median(values) * 1e6 for mode, values in per_mode.items()}
            say(
                f"| {label} | {med['none']:.1f} | {med['0005']:.1f} | {med['current']:.1f} | "
                f"{med['0005'] - med['none']:+.1f} ({med['0005'] / med['none'] - 1:+.1%}) | "
                f"{med['current'] - med['none']:+.1f} ({med['current'] / med['none'] - 1:+.1%}) |"
            )
    except BaseException:
        restore(ctl)
        ctl.execute("select dashboard.rebuild_job_usage()")  # a block cut short may not have undone its writes
        say("stopped early: triggers restored and usage recounted")
        raise
    finally:
        writer.close()
    restore(ctl)
    jobs, counted = ctl.execute(EXACT).fetchone()
    ctl.close()
    say(f"({load()})")
    say(f"{'PASS' if jobs == counted else 'FAIL'}  usage counts every job once afterwards ({counted:,} of {jobs:,})")
    return 0 if jobs == counted else 1


if __name__ == "__main__":
    raise SystemExit(main())
