"""The pages right after the platform wrote with no dashboard running: the first click meets a backlog of deltas.

    python -m bench.pages_backlog --spread            # on a copy of pages_bench's spread database
    python -m bench.pages_backlog --spread --days 7   # a week of the platform's writes, nobody folding

A dashboard server folds the usage deltas every minute once an admin has read (services/usage_folding.py), so
the backlog a click meets is a minute's writes. Restarted after a day down, or never opened for a week, the
first admin's first click meets every write since: this script measures that click. On a copy of pages_bench's
database (built by bench/pages_build.py if missing; the copy is dropped at the end unless --keep), with the
periodic fold off, for each chosen page in AppTest, signed in as an admin, --runs times:
  1. the platform's writes of --days days, at the rate the database's jobs arrived (jobs / 180 a day): each
     job inserted queued, then set processing, then completed or failed, every statement its own, through the
     triggers, as the platform's code would;
  2. the page's first click (timed): the usage reads follow the backlog's rule (services/usage_folding.py);
  3. its next click at once (timed), while a fold the first click started may still run;
  4. once no fold runs, one more click (timed): what every click after it costs.
Not a test: timings depend on the machine; nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import sqlalchemy as sa
from psycopg import sql

from bench.pages_bench import DEFAULT_SERVER, say
from bench.pages_build import Size, _admin_connection, admin_id, database_url, ensure_database

# The platform's writes, each its own statement: a job inserted queued, set processing, then finished.
# Models are drawn from every model with jobs already, so that the deltas spread as the jobs do.
_WRITES = """
do $do$
declare
  ids uuid[] := (select array_agg(distinct api_model_id) from jobs where created_at > now() - interval '30 days');
  job uuid;
begin
  for i in 1..%(jobs)s loop
    insert into jobs (api_model_id, status, created_at)
    values (ids[1 + floor(random() * array_length(ids, 1))::int], 'queued', now() - random() * interval '1 day')
    returning id into job;
    update jobs set status = 'processing' where id = job;
    update jobs set status = case when random() < 0.9 then 'completed' else 'failed' end,
                    quality_rating = case when random() < 0.3 then 1 + floor(random() * 5)::int end
    where id = job;
  end loop;
end
$do$
"""
PAGES = ("Overview", "Usage, 30d by model", "Usage, all by model", "Health, 1h", "Models, first page")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages_backlog", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=10_000_000)
    parser.add_argument("--spread", action="store_true", help="jobs spread over every model (default: the demo's)")
    parser.add_argument("--days", type=float, default=1.0, help="days of the platform's writes before a click (1)")
    parser.add_argument("--runs", type=int, default=3, help="backlogs per page (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the copy (named <database>_backlog)")
    args = parser.parse_args(argv)
    size = Size(models=args.models, jobs=args.jobs, spread=args.spread)
    ensure_database(args.server, size, rebuild=False, say=say)
    copy = f"{size.database}_backlog"
    started = time.perf_counter()
    _copy(args.server, size.database, copy)
    say(f"Copied {size.database} to {copy} in {time.perf_counter() - started:.0f} s")
    url = database_url(args.server, copy)
    try:
        return _measure(url, size, args)
    finally:
        if not args.keep:
            with _admin_connection(args.server) as conn:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(copy)))


def _copy(server: str, template: str, copy: str) -> None:
    with _admin_connection(server) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(copy)))
        conn.execute(
            sql.SQL("select pg_terminate_backend(pid) from pg_stat_activity where datname = {}").format(
                sql.Literal(template)
            )
        )
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(copy), sql.Identifier(template)))


def _measure(url: str, size: Size, args: argparse.Namespace) -> int:
    import os

    os.environ["DATABASE_URL"] = url  # the app in AppTest reads it
    from bench import pages_apptest
    from dashboard.database import create_db_engine
    from dashboard.services import usage_folding
    from dashboard.ui import memory

    usage_folding.KEEP_FOLDED_SECONDS = None  # as a server that was not running: nobody folds but the reads
    engine = create_db_engine(url)
    admin = admin_id(engine)
    per_day = max(1, round(size.jobs / 180))
    jobs = max(1, round(per_day * args.days))
    facts = pages_apptest.facts_of(engine)
    chosen = [v for v in pages_apptest.views() if v.name in PAGES]
    say(
        f"# Pages after a backlog, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC: {size.describe()}; "
        f"{args.days:g} days of the platform's writes before each first click ({jobs:,} jobs, {3 * jobs:,} "
        f"single-row statements); {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    at = pages_apptest.signed_in_app(admin)
    memory.settle()
    rows = []
    for view in chosen:
        firsts, nexts, afters, backlogs = [], [], [], []
        view.enter(at, facts)
        pages_apptest._click(at, view, facts)  # untimed: caches fill, the first-read-of-a-process costs are paid
        for _ in range(args.runs):
            backlogs.append(_write(engine, admin, jobs))
            firsts.append(pages_apptest._click(at, view, facts))
            nexts.append(pages_apptest._click(at, view, facts))
            usage_folding.wait_for_background_folds(600)  # the backlog's fold, started by the first click
            afters.append(pages_apptest._click(at, view, facts))
        took, pending = statistics.median(b[0] for b in backlogs), statistics.median(b[1] for b in backlogs)
        rows.append((view.name, pending, firsts, nexts, afters))
        say(
            f"  {view.name}: first {_ms(firsts)}, next {_ms(nexts)}, after the fold {_ms(afters)} "
            f"({pending:,.0f} deltas, written in {took:.0f} s)"
        )
    engine.dispose()
    say("\n| page | deltas pending | first click after the backlog | the next click, at once | once it is folded |")
    say("|---|---|---|---|---|")
    for name, pending, firsts, nexts, afters in rows:
        say(f"| {name} | {pending:,.0f} | {_ms(firsts)} | {_ms(nexts)} | {_ms(afters)} |")
    return 0


def _write(engine: sa.Engine, admin, jobs: int) -> tuple[float, int]:
    """The platform's writes (as the table's owner, through the triggers): (seconds, deltas then pending). What an
    earlier click left pending is folded first, so that each first click meets this backlog alone."""
    from dashboard.queries import usage as usage_queries
    from dashboard.services.usage import UsageService

    UsageService(engine, user_id=admin).fold()
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.connection.driver_connection.execute(_WRITES % {"jobs": int(jobs)})
    took = time.perf_counter() - started
    with engine.connect() as conn:
        pending = conn.execute(usage_queries.PENDING).scalar_one()
    return took, int(pending)


def _ms(values: list[float]) -> str:
    return "/".join(f"{v * 1000:,.0f}" for v in values) + " ms"


if __name__ == "__main__":
    sys.exit(main())
