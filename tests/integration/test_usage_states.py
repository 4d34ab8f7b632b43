"""Usage exact and fast in every state a platform reaches: after a bulk backfill nobody folded, after a day of
single-row writes, after a fold, with folds racing reads and writers, on a replica, and after a fold cut short.
Which path each read takes is services/usage_folding.py's rule; its thresholds are turned down here so that a
few thousand jobs reach every path (the timings are bench/usage_bench.py's)."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE, acting_as
from dashboard.queries import usage as usage_queries
from dashboard.services import usage_folding
from dashboard.services.usage import UsageRange, UsageService
from dashboard.services.usage_folding import Backlog, Decision, decide
from tests.concurrency import run_together
from tests.factories import make_model, make_provider, make_user
from tests.integration.test_usage import NOW, RANGES, _exact, _random_writes, _seed

_BACKFILL = """
insert into jobs (api_model_id, status, quality_rating, created_at)
select (array[:m0, :m1, :m2])[1 + i % 3], (array['completed', 'failed', 'queued'])[1 + i % 3],
       case when i % 4 = 0 then 1 + i % 5 end, :now - make_interval(mins => i % 50000)
from generate_series(1, :n) i
"""


@pytest.fixture
def catalogue(engine):
    provider = make_provider(engine)
    models = [make_model(engine, provider, display_name=f"M{i}") for i in range(3)]
    return models, make_user(engine, "admin")


def _backfill(engine, models, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(_BACKFILL), {"m0": models[0], "m1": models[1], "m2": models[2], "n": n, "now": NOW})


def _pending(engine) -> tuple[int, int]:
    """Unfolded delta rows, and the bytes both tables hold (dead rows included: those cost readers too)."""
    with engine.connect() as conn:
        rows = conn.execute(usage_queries.PENDING).scalar_one()
        size = conn.execute(usage_queries.BACKLOG).one().pending
    return rows, size


def _pending_jobs(engine) -> int:
    """The jobs the unfolded deltas stand for (a bulk statement's deltas stand for many each, since 0015)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select coalesce(sum(jobs), 0) from (select jobs from dashboard.job_usage_delta"
                " union all select jobs from dashboard.job_usage_delta_1) d"
            )
        ).scalar_one()


def _equal_in_every_range(engine, admin) -> None:
    for period in RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period


# ─── The rule, pure ─────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("backlog", "decision"),
    [
        (Backlog(0, 10**9, admin=False), Decision("own")),
        (Backlog(10**9, 10**9, admin=False), Decision("own")),
        (Backlog(0, 10**9, admin=True), Decision("rollups")),
        (Backlog(usage_folding.FOLD_ABOVE_BYTES, 10**9, admin=True), Decision("rollups")),
        (Backlog(usage_folding.FOLD_ABOVE_BYTES + 1, 10**9, admin=True), Decision("rollups", fold_in_background=True)),
        (Backlog(100 << 20, 10**9, admin=True), Decision("rollups", fold_in_background=True)),
        (Backlog(300 << 20, 10**9, admin=True), Decision("jobs", fold_in_background=True)),
        (Backlog(2 << 20, 4 << 20, admin=True), Decision("jobs", fold_in_background=True)),
        (Backlog(2 << 20, 9 << 20, admin=True), Decision("rollups", fold_in_background=True)),
    ],
)
def test_which_path_a_read_takes(backlog, decision):
    assert decide(backlog) == decision


# ─── Each state, against the seed's query ──────────────────────────────────────────────────────
def test_a_backlog_past_the_fold_threshold_is_read_with_the_rollups_then_folded_in_the_background_to_nothing(
    engine, catalogue, monkeypatch
):
    models, admin = catalogue
    _backfill(engine, models, 3000)
    _random_writes(engine, models, random.Random(3), 80)  # a day of single-row writes, nobody folding
    assert _pending_jobs(engine) > 3000
    monkeypatch.setattr(usage_folding, "FOLD_ABOVE_BYTES", 0)
    monkeypatch.setattr(usage_folding, "JOBS_INSTEAD_SHARE", 1e9)
    folds: list[int] = []
    real = usage_folding.fold_in_background
    monkeypatch.setattr(usage_folding, "fold_in_background", lambda key, fold: (folds.append(key), real(key, fold)))
    assert _exact(engine, admin, UsageRange()) == _seed(engine, UsageRange())  # read with the deltas, not folded first
    assert folds, "the read starts a fold in the background once it has read"
    deadline = time.monotonic() + 20
    while _pending(engine)[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pending(engine) == (0, 0), "a fold must free what it folded at once (no dead rows to scan)"
    _equal_in_every_range(engine, admin)


def test_a_backlog_too_large_to_fold_in_a_read_is_read_from_jobs_and_folded_in_the_background(
    engine, catalogue, monkeypatch
):
    models, admin = catalogue
    _backfill(engine, models, 5000)
    monkeypatch.setattr(usage_folding, "JOBS_INSTEAD_SHARE", 0.0)
    monkeypatch.setattr(usage_folding, "FOLD_ABOVE_BYTES", 0)
    folds: list[int] = []
    real = usage_folding.fold_in_background
    monkeypatch.setattr(usage_folding, "fold_in_background", lambda key, fold: (folds.append(key), real(key, fold)))
    _equal_in_every_range(engine, admin)  # every read counted jobs, as the seed's query does
    assert folds, "a backlog that large is folded in the background"
    deadline = time.monotonic() + 20
    while _pending(engine)[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pending(engine) == (0, 0)
    monkeypatch.setattr(usage_folding, "JOBS_INSTEAD_SHARE", 1e9)
    _equal_in_every_range(engine, admin)  # and now from the rollups


def test_a_background_fold_that_could_only_delete_folds_again_once_the_report_is_over(engine, catalogue, monkeypatch):
    """A fold that finds a report holding its table when it comes to truncate deletes the rows instead (migration
    0024); every read then scans them dead until a fold truncates them, so a background fold folds again shortly."""
    models, admin = catalogue
    _random_writes(engine, models, random.Random(6), 60)
    monkeypatch.setattr(usage_folding, "FOLD_ABOVE_BYTES", 0)
    monkeypatch.setattr(usage_folding, "FREE_PAUSE_SECONDS", 0.3)
    service = UsageService(engine, user_id=admin)
    folding = threading.Thread(target=usage_folding.fold_until_freed, args=(service.fold, service._held_bytes))
    with acting_as(engine, admin, snapshot=True, lock=usage_queries.LOCK_DELTAS):  # a report in one snapshot
        folding.start()
        deadline = time.monotonic() + 10
        while _pending(engine)[0] and time.monotonic() < deadline:
            time.sleep(0.02)
        rows, held = _pending(engine)
        assert rows == 0 and held > 0, "folded beside the report, and deleted: the dead rows are still there"
    folding.join(10)
    assert _pending(engine) == (0, 0)
    _equal_in_every_range(engine, admin)


# A fold that takes two seconds over its arithmetic: a statement trigger on the daily rollup, which every fold writes
# (this test's own database only).
_SLOW_FOLD = """
create function public.slow_fold_for_a_test() returns trigger language plpgsql as $$
begin
  perform pg_sleep(2);
  return null;
end $$;
create trigger slow_fold_for_a_test after insert or update or delete on dashboard.job_usage_daily
  for each statement execute function public.slow_fold_for_a_test();
"""


def test_reads_go_on_beside_a_fold_in_progress_and_see_the_counts_of_before_it(engine, catalogue):
    """Migration 0024: a fold holds its table IN EXCLUSIVE MODE while it folds, so a read meanwhile does not wait for
    it (before, it held ACCESS EXCLUSIVE throughout, and every read waited for the whole fold), and sees the deltas
    and the rollups as they were: the same counts."""
    models, admin = catalogue
    _random_writes(engine, models, random.Random(8), 60)
    expected = _seed(engine, UsageRange())
    with engine.begin() as conn:
        conn.execute(sa.text(_SLOW_FOLD))
    folded: list[int] = []
    folding = threading.Thread(target=lambda: folded.append(UsageService(engine, user_id=admin).fold()))
    folding.start()
    time.sleep(0.5)  # the fold is in its arithmetic now, for another second and more
    started = time.monotonic()
    assert _exact(engine, admin, UsageRange()) == expected
    waited = time.monotonic() - started
    assert folding.is_alive(), "the fold was still running during the read"
    folding.join(10)
    assert waited < 1.0, f"the read waited {waited:.2f} s for the fold"
    assert folded and folded[0] > 0
    assert _pending(engine) == (0, 0)
    assert _exact(engine, admin, UsageRange()) == expected


def test_after_a_fold_reads_come_from_the_rollups_alone(engine, catalogue):
    models, admin = catalogue
    _backfill(engine, models, 2000)
    _random_writes(engine, models, random.Random(4), 60)
    UsageService(engine, user_id=admin).fold()
    assert _pending(engine) == (0, 0)
    _equal_in_every_range(engine, admin)


def test_the_triggers_take_turns_and_a_fold_takes_what_was_written_before_the_previous_switch(engine, catalogue):
    models, admin = catalogue
    service = UsageService(engine, user_id=admin)
    with engine.begin() as conn:
        slot = conn.execute(sa.text("select active from dashboard.usage_slot")).scalar_one()
    _backfill(engine, models, 10)
    with engine.connect() as conn:
        written = conn.execute(sa.text(f"select sum(jobs) from dashboard.{usage_queries.DELTA_TABLES[slot]}")).scalar()
    assert written == 10
    with engine.begin() as conn:
        assert conn.execute(usage_queries.FOLD).scalar_one() == 0  # the other table was empty; now writers switch
    _backfill(engine, models, 5)  # into the other table
    with engine.begin() as conn:
        assert conn.execute(usage_queries.FOLD).scalar_one() > 0  # what was written before the switch
    assert _pending_jobs(engine) == 5
    assert service.fold() > 0
    assert _pending_jobs(engine) == 0
    _equal_in_every_range(engine, admin)


def test_a_writer_open_since_before_the_switch_is_waited_for_briefly_then_left_for_the_next_fold(engine, catalogue):
    models, admin = catalogue
    service = UsageService(engine, user_id=admin)
    service.fold()
    with engine.connect() as writer:
        writer.execute(sa.text("insert into jobs (api_model_id, status) values (:m, 'queued')"), {"m": models[0]})
        with engine.begin() as conn:
            conn.execute(usage_queries.FOLD)  # switch: the open writer's table is now the one to fold
        started = time.monotonic()
        with engine.begin() as conn:
            assert conn.execute(usage_queries.FOLD).scalar_one() == 0  # it waited, then gave up
        assert time.monotonic() - started < 2
        writer.execute(sa.text("update jobs set status = 'completed'"))  # the platform's writer never waited
        writer.commit()
    assert service.fold() == 2
    _equal_in_every_range(engine, admin)


def test_folds_racing_reads_and_writers_keep_every_read_exact(engine, catalogue):
    models, admin = catalogue
    _backfill(engine, models, 1000)
    stop = threading.Event()
    mismatches: list = []

    def write():
        rng = random.Random(7)
        while not stop.is_set():
            _random_writes(engine, models, rng, 5)

    def fold():
        while not stop.is_set():
            UsageService(engine, user_id=admin).fold()

    threads = [threading.Thread(target=write), threading.Thread(target=fold)]
    for thread in threads:
        thread.start()
    try:
        ours = sa.select(sa.func.coalesce(sa.func.sum(sa.column("jobs")), 0)).select_from(
            usage_queries.rollup_source(None, None)
        )
        seed = (
            sa.select(sa.func.count())
            .select_from(sa.table("jobs", sa.column("api_model_id")))
            .where(sa.column("api_model_id").is_not(None))
        )
        for _ in range(15):
            # One statement, one snapshot for both, as every reader of ours reads (READ COMMITTED statements
            # lock what they read before they take their snapshot, so a fold is seen whole or not at all).
            with engine.connect() as conn:
                row = conn.execute(sa.select(seed.scalar_subquery(), ours.scalar_subquery())).one()
            if row[0] != row[1]:
                mismatches.append(tuple(row))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert mismatches == []
    _equal_in_every_range(engine, admin)


def test_a_fold_cut_short_leaves_the_counts_exact(engine, catalogue, server_url):
    models, admin = catalogue
    _backfill(engine, models, 500)
    UsageService(engine, user_id=admin).fold()
    _backfill(engine, models, 300)
    with engine.begin() as conn:
        conn.execute(usage_queries.FOLD)  # switch, so that the next fold has the 300 to fold
    victim = engine.connect()
    pid = victim.execute(sa.text("select pg_backend_pid()")).scalar()
    victim.execute(usage_queries.FOLD)  # folded and truncated, not committed
    with engine.begin() as conn:
        assert conn.execute(sa.text("select pg_terminate_backend(:p)"), {"p": pid}).scalar()
    with pytest.raises(sa.exc.DBAPIError):
        victim.commit()
    victim.invalidate()
    _equal_in_every_range(engine, admin)
    assert _pending_jobs(engine) == 300
    assert UsageService(engine, user_id=admin).fold() > 0
    assert _pending_jobs(engine) == 0
    _equal_in_every_range(engine, admin)


def test_a_replica_with_a_large_backlog_reads_jobs_and_stays_exact(engine, db_url, catalogue, monkeypatch):
    models, admin = catalogue
    _backfill(engine, models, 2000)
    monkeypatch.setattr(usage_folding, "FOLD_ABOVE_BYTES", 0)
    monkeypatch.setattr(usage_folding, "JOBS_INSTEAD_SHARE", 0.0)
    monkeypatch.setattr(usage_folding, "fold_in_background", lambda key, fold: None)  # a primary that never folds
    replica = sa.create_engine(
        db_url.replace("postgresql://", "postgresql+psycopg://", 1),
        connect_args={"options": "-c default_transaction_read_only=on"},
    )
    try:
        frame = UsageService(engine, user_id=admin, read_db=replica).by_model(UsageRange(), exact=True)
    finally:
        replica.dispose()
    assert int(frame["total_jobs"].sum()) == 2000
    assert _pending_jobs(engine) == 2000  # nothing was folded: the read cost what the seed's query costs


def test_a_long_lived_process_keeps_the_backlog_folded_in_the_background(engine, catalogue, monkeypatch):
    models, admin = catalogue
    monkeypatch.setattr(usage_folding, "KEEP_FOLDED_SECONDS", 0.2)
    monkeypatch.setattr(usage_folding, "_keepers", {})
    UsageService(engine, user_id=admin).by_model()  # the first admin read starts it
    _backfill(engine, models, 200)
    deadline = time.monotonic() + 10
    while _pending(engine)[0] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pending(engine) == (0, 0)


def test_seed_demo_and_rebuild_leave_everything_folded(engine, catalogue):
    models, admin = catalogue
    _backfill(engine, models, 1500)
    with engine.begin() as conn:  # a bulk load with the triggers off, then the recount
        conn.execute(sa.text("alter table jobs disable trigger user"))
        conn.execute(
            sa.text("insert into jobs (api_model_id, status) select :m, 'failed' from generate_series(1, 40)"),
            {"m": models[1]},
        )
        conn.execute(sa.text("alter table jobs enable trigger user"))
    assert UsageService(engine, user_id=SERVICE_ROLE).rebuild() == 1540
    assert _pending(engine) == (0, 0)
    _equal_in_every_range(engine, admin)


def test_concurrent_reads_with_a_backlog_fold_it_once(engine, catalogue, monkeypatch):
    models, admin = catalogue
    _backfill(engine, models, 3000)
    monkeypatch.setattr(usage_folding, "FOLD_ABOVE_BYTES", 0)
    monkeypatch.setattr(usage_folding, "JOBS_INSTEAD_SHARE", 1e9)
    results, errors = run_together(lambda _: _exact(engine, admin, UsageRange()), range(4))
    assert errors == []
    assert all(result == _seed(engine, UsageRange()) for result in results)


# pg_cron's interface as Supabase has it (cron.schedule(name, schedule, command) keeps one job per name); the
# extension itself is not on this server, so a stand-in records what it is asked.
_FAKE_PG_CRON = """
create schema cron;
create table cron.job (jobid bigserial primary key, jobname text unique, schedule text, command text);
create function cron.schedule(job_name text, schedule text, command text) returns bigint language sql as $$
  insert into cron.job (jobname, schedule, command) values (job_name, schedule, command)
  on conflict (jobname) do update set schedule = excluded.schedule, command = excluded.command returning jobid
$$;
"""


def test_migrate_schedules_the_fold_with_pg_cron_when_asked_and_says_so_when_it_cannot(db_url, engine):
    from tests.integration.test_cli import run_cli

    refused = run_cli("migrate", "--schedule-fold", url=db_url)
    assert refused.returncode == 1 and "pg_cron is not installed" in refused.stderr
    assert "pg_cron is not installed" in run_cli("migrate", "--plan", url=db_url).stdout
    with engine.begin() as conn:
        conn.exec_driver_sql(_FAKE_PG_CRON)
    assert "migrate --schedule-fold" in run_cli("migrate", "--plan", url=db_url).stdout
    for _ in range(2):  # twice: still one job
        done = run_cli("migrate", "--schedule-fold", url=db_url)
        assert done.returncode == 0, done.stderr
        assert "pg_cron folds usage every minute" in done.stdout
    with engine.connect() as conn:
        jobs = conn.execute(sa.text("select jobname, schedule, command from cron.job")).all()
        assert jobs == [("dashboard-fold-job-usage", "* * * * *", "select dashboard.fold_job_usage()")]
        conn.execute(sa.text(jobs[0].command))  # what pg_cron will run, as the owner


# ─── Bulk statements: one delta per (model, status, hour, rating), since 0015 ──────────────────────
_GROUPS = """
select count(*) from (select distinct api_model_id, status, date_trunc('hour', created_at, 'UTC'), quality_rating
                      from jobs where api_model_id is not null {where}) g
"""


_HOURS_40 = timedelta(hours=40)


def _delta_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(usage_queries.PENDING).scalar_one()


def test_a_bulk_insert_and_a_delete_sweep_each_leave_one_delta_per_group(engine, catalogue):
    models, admin = catalogue
    UsageService(engine, user_id=admin).fold()
    _backfill(engine, models, 6000)
    with engine.connect() as conn:
        groups = conn.execute(sa.text(_GROUPS.format(where=""))).scalar_one()
        swept = conn.execute(sa.text(_GROUPS.format(where="and created_at < :cut")), {"cut": NOW - _HOURS_40}).scalar()
    assert _delta_rows(engine) == groups < 6000
    assert _pending_jobs(engine) == 6000
    with engine.begin() as conn:
        conn.execute(sa.text("delete from jobs where created_at < :cut"), {"cut": NOW - _HOURS_40})
    assert _delta_rows(engine) == groups + swept
    _equal_in_every_range(engine, admin)
    _backfill(engine, models, 16)  # a statement of a few rows appends them as they are (one job each)
    assert _delta_rows(engine) == groups + swept + 16
    with engine.begin() as conn:  # a statement that inserts nothing adds nothing
        conn.execute(sa.text("insert into jobs (api_model_id, status) select api_model_id, status from jobs limit 0"))
        conn.execute(sa.text("delete from jobs where false"))
    assert _delta_rows(engine) == groups + swept + 16
    UsageService(engine, user_id=admin).fold()
    UsageService(engine, user_id=admin).fold()
    assert _pending(engine) == (0, 0)
    _equal_in_every_range(engine, admin)


def test_upserts_and_writable_ctes_are_counted_once(engine, catalogue):
    models, admin = catalogue
    _backfill(engine, models, 30)
    some = {"ids": None}
    with engine.begin() as conn:
        some["ids"] = conn.execute(sa.text("select id from jobs order by id limit 10")).scalars().all()
        # ON CONFLICT: the rows that exist are updated (row trigger), the new ones inserted (statement trigger)
        conn.execute(
            sa.text("""
            insert into jobs (id, api_model_id, status, created_at)
            select coalesce(old.id, gen_random_uuid()), :m, 'failed', :now
            from (select unnest(cast(:ids as uuid[])) as id union all select null from generate_series(1, 5)) old
            on conflict (id) do update set status = excluded.status
        """),
            {"m": models[1], "now": NOW, "ids": some["ids"]},
        )
        conn.execute(
            sa.text("""
            with a as (insert into jobs (api_model_id, status, created_at) values (:m, 'queued', :now) returning id),
                 b as (insert into jobs (api_model_id, status, created_at) values (:m, 'queued', :now) returning id)
            delete from jobs where id in (select id from a)
        """),
            {"m": models[2], "now": NOW},
        )
    _equal_in_every_range(engine, admin)


def test_a_jobs_table_with_inheritance_keeps_row_triggers_and_stays_exact(engine, catalogue):
    """Statement triggers see neither a write that names a partition nor one that names a child table, so
    usage capture keeps row triggers on such a jobs table (and goes back to statements when it is plain)."""
    models, admin = catalogue

    def kinds() -> set[str]:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.text(
                        "select case when tgtype::int & 1 = 1 then 'row' else 'statement' end from pg_trigger "
                        "where tgrelid = 'public.jobs'::regclass and tgname in "
                        "('dashboard_job_usage_insert', 'dashboard_job_usage_delete')"
                    )
                )
                .scalars()
                .all()
            )
        return set(rows)

    assert kinds() == {"statement"}
    with engine.begin() as conn:
        conn.execute(sa.text("create table public.jobs_archive () inherits (public.jobs)"))
        assert conn.execute(sa.text("select dashboard.install_usage_capture()")).scalar_one()
    assert kinds() == {"row"}
    _backfill(engine, models, 40)
    assert _delta_rows(engine) >= 40
    _equal_in_every_range(engine, admin)
    with engine.begin() as conn:
        conn.execute(sa.text("drop table public.jobs_archive"))
        conn.execute(sa.text("select dashboard.install_usage_capture()"))
    assert kinds() == {"statement"}
    _backfill(engine, models, 40)
    _equal_in_every_range(engine, admin)
