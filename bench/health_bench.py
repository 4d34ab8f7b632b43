"""Health at scale: HealthService.report() on the pages benchmark's database (10,000 models, 10M jobs), in the
states a platform reaches, with every figure checked against SQL over jobs.

The benchmark database's jobs end at the hour it was built in, so the run first writes the last two hours of a
platform's traffic through the usage triggers, as the platform would (INSERT ... SELECT, then status updates),
and measures:
  1. with that traffic pending (nobody folded since: the report reads the deltas too);
  2. after a fold;
  3. with a job in the window on every one of the 10,000 models (the spread case: every model is in the report).
Each state: the report for the last hour and the last 24 hours, as the demo admin (median of --runs), then the
Health page itself in AppTest (a server run, median of --runs). The jobs it added are deleted at the end.

    python -m bench.health_bench                   # 10,000 models, 10M jobs (builds the database once, ~20 min)
    python -m bench.health_bench --quick           # 1,000 models, 100,000 jobs
    python -m bench.health_bench --spread          # on the database whose 10M jobs are spread over every model

Exit status 1 when a figure differs from SQL over jobs. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.pages_build import Size, admin_id, ensure_database
from dashboard.database import create_db_engine
from dashboard.services.health import HealthService
from dashboard.services.usage import UsageService

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

# The last two hours of a busy platform: per hour about as many jobs as the demo's own last hours hold, over the
# demo's 32 models, all completed in 2-60 s; image/generation's pick failing
# 40% over the last hour; 30 jobs stuck in processing on one model since 90 minutes ago. Marked by their
# error_message or rating so that the end of the run can delete them: every added job's id is kept.
_TRAFFIC = """
with demo as (  -- the demo's own models: the first 32 created
  select array_agg(id) as ids from (select id from api_models order by created_at, id limit 32) first
)
insert into jobs (api_model_id, status, created_at, updated_at, completed_at, error_message)
select d.ids[1 + (i * 7919) % array_length(d.ids, 1)], 'completed', t, t, t + make_interval(secs => 2 + i % 59), null
from demo d, generate_series(1, :n) i, lateral (select :start + (i * interval '7200 seconds') / :n as t) c
where t < now()
returning id
"""


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.health_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="1,000 models and 100,000 jobs")
    parser.add_argument("--spread", action="store_true", help="on pages_bench's database with jobs on every model")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--per-hour", type=int, default=20_000, help="jobs per hour of the added traffic")
    parser.add_argument("--no-apptest", action="store_true", help="skip the Health page's AppTest runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.jobs = 1_000, 100_000
    size = Size(models=args.models, jobs=args.jobs, spread=args.spread)
    url = ensure_database(args.server, size, rebuild=False, say=say)
    engine = create_db_engine(url)
    admin = admin_id(engine)
    service = HealthService(engine, user_id=admin)
    added: list = []
    failures = 0
    try:
        say(f"\nHealth on {args.models:,} models and {args.jobs:,} jobs, median of {args.runs} runs")
        added += _add_traffic(engine, args.per_hour)
        failures += _measure(service, engine, "1. the last two hours' traffic pending (not folded)", args)
        folded = UsageService(engine, user_id=admin).fold()
        say(f"   (folded {folded:,} pending changes)")
        failures += _measure(service, engine, "2. after a fold", args)
        added += _one_job_on_every_model(engine)
        failures += _measure(service, engine, "3. a job in the window on every model", args)
    finally:
        _delete(engine, added)
        engine.dispose()
    return 1 if failures else 0


def _add_traffic(engine, per_hour: int) -> list:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    t = time.perf_counter()
    with engine.begin() as conn:
        ids = list(conn.execute(sa.text(_TRAFFIC), {"n": 2 * per_hour, "start": start}).scalars())
        # image/generation's pick failing over the last hour, 40% of its jobs there
        pick = conn.execute(
            sa.text("""
            select m.id from api_models m join api_providers p on p.id = m.provider_id
            where m.modality = 'image' and m.task = 'generation' and m.is_active and p.is_active
            order by m.priority, m.is_default desc, m.display_name, m.id limit 1""")
        ).scalar_one()
        failed = conn.execute(
            sa.text("""
            update jobs set status = 'failed', completed_at = null, error_message = 'bench: upstream 503'
            where id = any(:ids) and api_model_id = :pick and created_at >= :hour and (hashtext(id::text) % 5) in (0, 1)
            """),
            {"ids": ids, "pick": pick, "hour": start + timedelta(hours=1)},
        ).rowcount
        stuck = list(
            conn.execute(
                sa.text("""
                insert into jobs (api_model_id, status, created_at)
                select :pick, 'processing', :at - make_interval(secs => i) from generate_series(1, 30) i
                returning id"""),
                {"pick": pick, "at": now - timedelta(minutes=90)},
            ).scalars()
        )
    say(
        f"   added {len(ids):,} jobs over the last two hours ({failed:,} failed on image/generation's pick) and 30 "
        f"stuck in processing, in {time.perf_counter() - t:.1f} s"
    )
    return ids + stuck


def _one_job_on_every_model(engine) -> list:
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                sa.text("""
                insert into jobs (api_model_id, status, created_at, completed_at)
                select id, 'completed', now() - interval '5 minutes', now() from api_models returning id""")
            ).scalars()
        )
    say(f"   added one completed job on each of {len(ids):,} models")
    return ids


def _measure(service: HealthService, engine, state: str, args) -> int:
    say(f"\n{state}")
    failures = 0
    for window in ("1h", "24h"):
        service.report(window)  # the first read may fold a large backlog: measured apart
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            report = service.report(window)
            times.append(time.perf_counter() - t)
        wrong = _check(engine, report)
        failures += bool(wrong)
        say(
            f"   report {window:>3}: {statistics.median(times) * 1000:6.0f} ms median "
            f"({min(times) * 1000:.0f}-{max(times) * 1000:.0f}), {len(report.models):,} models, "
            f"{len(report.findings)} findings; {'equal to SQL over jobs' if not wrong else 'DIFFERS: ' + wrong}"
        )
    if not args.no_apptest:
        say(f"   Health page (AppTest server run): {_page_runs(engine, args.runs)}")
    return failures


def _check(engine, report) -> str:
    """The report's jobs, completed and failed per model, and stuck jobs, against SQL over jobs."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            select api_model_id::text, count(*), count(*) filter (where status = 'completed'),
                   count(*) filter (where status = 'failed')
            from jobs where created_at >= :start and created_at < :end group by 1"""),
            {"start": report.start, "end": report.end},
        ).all()
        stuck = dict(
            conn.execute(
                sa.text("""
                select api_model_id::text, count(*) from jobs
                where status in ('queued', 'processing') and created_at < :before and api_model_id is not null
                group by 1"""),
                {"before": report.stuck_before},
            ).all()
        )
    expected = {model: (total, completed, failed) for model, total, completed, failed in rows}
    for m in report.models:
        if (m.jobs, m.completed, m.failed) != expected.get(m.model_id, (0, 0, 0)):
            return f"{m.model}: {(m.jobs, m.completed, m.failed)} != {expected.get(m.model_id)}"
        if m.stuck_jobs != stuck.get(m.model_id, 0):
            return f"{m.model}: stuck {m.stuck_jobs} != {stuck.get(m.model_id, 0)}"
    missing = set(expected) - {m.model_id for m in report.models}
    return f"{len(missing)} models with jobs missing from the report" if missing else ""


def _page_runs(engine, runs: int) -> str:
    from bench import pages_apptest

    os.environ["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    facts = pages_apptest.facts_of(engine)
    chosen = [v for v in pages_apptest.views() if v.group == "Health"]
    measured = pages_apptest.measure(engine, admin_id(engine), facts, chosen, runs=runs, say=lambda _: None)
    parts = []
    for m in measured:
        if m.error:
            parts.append(f"{m.view.name}: {m.error}")
            continue
        parts.append(
            f"{m.view.name} warm {statistics.median(m.warm) * 1000:.0f} ms, cold {statistics.median(m.cold) * 1000:.0f}"
            f" ms, {max(m.sent) // 1024} KB"
        )
    return "; ".join(parts)


def _delete(engine, ids: list) -> None:
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(sa.text("delete from jobs where id = any(:ids)"), {"ids": ids})
    UsageService(engine, user_id="service_role").fold()
    say(f"\nDeleted the {len(ids):,} jobs this run added (and folded).")


if __name__ == "__main__":
    sys.exit(main())
