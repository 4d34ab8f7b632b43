"""The monthly, all-time and per-day rollups (migration 0016) stay equal to the daily one and to the seed's query:
after random writes and folds, for ranges across month boundaries, open at either end and inside one day, with
folds racing writers, after a recount, a truncation and a migration onto rollups already filled."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import create_db_engine
from dashboard.queries import usage as usage_queries
from dashboard.queries.tables import api_models
from dashboard.services.usage import UsageFilters, UsageRange, UsageService
from db.migrate import load_migrations, migrate
from tests import hostile
from tests.concurrency import run_together
from tests.factories import make_job, make_model, make_provider, make_user
from tests.integration.test_usage import NOW, RANGES, _as_person, _exact, _random_writes, _seed


def _at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# The writes of _random_writes span 2026-10-14 to NOW (2026-11-23 15:00), so these cross the month boundary.
MONTH_RANGES = [
    UsageRange.between_days(date(2026, 10, 20), date(2026, 11, 4)),
    UsageRange(start=_at(2026, 10, 31, 20), end=_at(2026, 11, 1, 5)),  # hours across the boundary, no whole day
    UsageRange(end=_at(2026, 11, 1)),  # open start, ends on a month
    UsageRange(start=_at(2026, 10, 1)),  # open end, starts on a month
    UsageRange(start=_at(2026, 10, 16, 7)),  # open end, mid-day
    UsageRange(end=_at(2026, 11, 12, 9)),  # open start, mid-day
    UsageRange.between_days(date(2026, 10, 1), date(2026, 10, 31)),  # one whole month
    UsageRange.between_days(date(2026, 10, 3), date(2026, 11, 28)),  # a month and pieces of two
    UsageRange(start=_at(2026, 11, 20, 3), end=_at(2026, 11, 20, 21)),  # inside one day
    UsageRange(start=_at(2026, 10, 31, 23), end=_at(2026, 11, 1)),  # the last hour of a month
    UsageRange.between_days(date(2026, 8, 1), date(2027, 1, 31)),  # beyond the jobs at both ends
]
# Edges of more than EDGE_AS_DAY_HOURS, read as their day less the hours outside them (12 hours: still hour by hour).
EDGE_RANGES = [
    UsageRange(start=_at(2026, 11, 20, 2)),  # open end: a first edge of 22 hours
    UsageRange(end=_at(2026, 11, 12, 20)),  # open start: a last edge of 20 hours
    UsageRange(start=_at(2026, 11, 20, 1), end=_at(2026, 11, 20, 23)),  # 22 hours inside one day
    UsageRange(start=_at(2026, 11, 18, 12), end=_at(2026, 11, 19, 13)),  # 12 hours, then 13
    UsageRange(start=_at(2026, 11, 16, 11), end=_at(2026, 11, 21, 14)),  # 13 hours, days, then 14
    UsageRange.preset("24h", now=_at(2026, 11, 23, 1, 30)),  # just after midnight: 23 hours of yesterday
]
ALL_RANGES = [*RANGES, *MONTH_RANGES, *EDGE_RANGES]

# The three rollups, each as the daily rollup summed the same way (rows that sum to nothing left out).
_KEPT = {
    "job_usage_monthly": (
        "select bucket, api_model_id, status, jobs, rated, rating_sum from dashboard.job_usage_monthly",
        "select date_trunc('month', bucket, 'UTC'), api_model_id, status, sum(jobs), sum(rated), sum(rating_sum) "
        "from dashboard.job_usage_daily group by 1, 2, 3",
    ),
    "job_usage_total": (
        "select api_model_id, status, jobs, rated, rating_sum from dashboard.job_usage_total",
        "select api_model_id, status, sum(jobs), sum(rated), sum(rating_sum) from dashboard.job_usage_daily "
        "group by 1, 2",
    ),
    "job_usage_day_totals": (
        "select bucket, status, jobs, rated, rating_sum from dashboard.job_usage_day_totals",
        "select bucket, status, sum(jobs), sum(rated), sum(rating_sum) from dashboard.job_usage_daily group by 1, 2",
    ),
}


@pytest.fixture
def catalogue(engine):
    provider, other = make_provider(engine), make_provider(engine, name="other")
    models = [make_model(engine, provider, display_name=f"M{i}") for i in range(3)]
    models.append(make_model(engine, other, display_name="V", modality="video", task="generation"))
    models.append(make_model(engine, provider, display_name="Off", is_active=False))
    return models, make_user(engine, "admin"), other


def _nonzero(rows) -> set:
    """Rows as (key..., jobs, rated, rating_sum) with plain ints, those that count nothing left out."""
    return {(*r[:-3], *(int(v) for v in r[-3:])) for r in rows if any(r[-3:])}


def _assert_kept_from_daily(engine) -> None:
    with engine.connect() as conn:
        for table, (kept, from_daily) in _KEPT.items():
            assert _nonzero(conn.exec_driver_sql(kept).all()) == _nonzero(conn.exec_driver_sql(from_daily).all()), table


_JOBS = sa.text("""
select api_model_id::text as model, status, date_trunc('day', created_at, 'UTC') as day, quality_rating
from jobs where api_model_id is not null and created_at >= :start and created_at < :end
""")


def _days_from_jobs(engine, period: UsageRange, *, only=None, without=None) -> list:
    """Jobs per day and status counted one by one in Python (as the owner: every job), of the models given."""
    start, end = period.start or _at(1, 1, 1), period.end or _at(9999, 1, 1)
    with engine.connect() as conn:
        jobs = conn.execute(_JOBS, {"start": start, "end": end}).all()
    days: dict = {}
    for job in jobs:
        if (only is not None and job.model not in only) or (without is not None and job.model in without):
            continue
        count = days.setdefault((job.day, job.status), [0, 0, 0])
        count[0] += 1
        count[1] += job.quality_rating is not None
        count[2] += job.quality_rating or 0
    return [(day, status, *count) for (day, status), count in sorted(days.items())]


def _days_from_rollups(engine, admin, period: UsageRange, **listed) -> list:
    with engine.connect() as conn:
        _as_person(conn, admin)
        rows = conn.execute(usage_queries.day_counts_from_totals(period.start, period.end, **listed)).all()
    return [tuple(row) for row in rows]


def _model_lists(engine, models, other) -> list[tuple[str, list[str], list[str]]]:
    """(what, the models a filter keeps, the models with jobs it leaves out), ids as text, as report() passes them."""
    every = [
        UsageFilters(),
        UsageFilters(active_only=False),
        UsageFilters(modality="video"),
        UsageFilters(provider_id=other, active_only=False),
        UsageFilters(model_id=models[0]),
        UsageFilters(model_id=models[-1], active_only=False),  # the inactive one
        UsageFilters(modality=hostile.SCRIPT, task=hostile.FORMULA),
        UsageFilters(task=hostile.CR_FORMULA, active_only=False),
    ]
    with engine.connect() as conn:
        counted = set(conn.execute(sa.text("select distinct api_model_id::text from jobs")).scalars()) - {None}
        lists = []
        for filters in every:
            query = sa.select(sa.cast(api_models.c.id, sa.Text)).where(*filters.conditions())
            kept = sorted(conn.execute(query).scalars())
            lists.append((repr(filters), kept, sorted(counted - set(kept))))
    return lists


def _assert_days_equal(engine, admin, models, other, periods) -> None:
    for what, kept, left_out in _model_lists(engine, models, other):
        for period in periods:
            assert _days_from_rollups(engine, admin, period, only=kept) == _days_from_jobs(engine, period, only=kept), (
                what,
                period,
            )
            expected = _days_from_jobs(engine, period, without=left_out)
            assert _days_from_rollups(engine, admin, period, without=left_out) == expected, (what, period)
    for period in periods:
        assert _days_from_rollups(engine, admin, period) == _days_from_jobs(engine, period), period


# ─── Kept from the daily rollup ─────────────────────────────────────────────────────────────────
def test_the_coarse_rollups_are_the_daily_one_summed_after_writes_and_folds(engine, catalogue):
    models, admin, _ = catalogue
    rng = random.Random(16)
    for round_ in range(4):
        _random_writes(engine, models, rng, 50)
        UsageService(engine, user_id=admin).fold()
        _assert_kept_from_daily(engine)
        assert round_ or _nonzero(engine.connect().exec_driver_sql(_KEPT["job_usage_monthly"][0]).all())


# ─── Per model: equal to the seed's query, whatever plan the month cost makes ──────────────────────
@pytest.mark.parametrize("month_cost", [1, 4, 30])
def test_per_model_totals_equal_the_seed_across_months_open_ends_and_inside_a_day(
    engine, catalogue, monkeypatch, month_cost
):
    monkeypatch.setattr(usage_queries, "MONTH_COST_IN_DAYS", month_cost)
    models, admin, _ = catalogue
    rng = random.Random(month_cost)
    for round_ in range(3):
        _random_writes(engine, models, rng, 40)
        if round_ % 2:
            UsageService(engine, user_id=admin).fold()  # the rest stays as deltas, read beside the rollups
        for period in ALL_RANGES:
            assert _exact(engine, admin, period) == _seed(engine, period), (round_, period)


def test_a_plan_of_months_minus_days_reads_the_same_as_the_daily_rollup(engine, catalogue, monkeypatch):
    """Straight on the sources, every plan against the daily rollup, as of dates that make each plan cheapest."""
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(2), 120)
    UsageService(engine, user_id=admin).fold()

    def per_model(source) -> dict:
        u = source.c
        query = sa.select(
            u.api_model_id, u.status, sa.func.sum(u.jobs), sa.func.sum(u.rated), sa.func.sum(u.rating_sum)
        )
        with engine.connect() as conn:
            rows = conn.execute(query.group_by(u.api_model_id, u.status)).all()
        return {(r[0], r[1]): tuple(int(v) for v in r[2:]) for r in rows if any(r[2:])}

    for month_cost in (1, 30):
        monkeypatch.setattr(usage_queries, "MONTH_COST_IN_DAYS", month_cost)
        for now in (NOW, _at(2026, 12, 2, 8), _at(2027, 6, 1)):
            for first_month in (None, _at(2026, 10, 1), _at(2025, 1, 1)):
                for period in ALL_RANGES:
                    coarse = usage_queries.model_totals_source(
                        period.start, period.end, first_month=first_month, now=now
                    )
                    daily = usage_queries.rollup_source(period.start, period.end)
                    assert per_model(coarse) == per_model(daily), (month_cost, now, first_month, period)


def test_a_long_edge_read_as_its_day_less_the_hours_outside_equals_the_jobs_hour_by_hour(engine, catalogue):
    """Jobs in every hour of the edges' days, some folded, some pending, some moved out of their hour or model."""
    models, admin, other = catalogue
    with engine.begin() as conn:
        for n, model in enumerate(models):
            conn.execute(
                sa.text(
                    "insert into jobs (api_model_id, status, quality_rating, created_at) "
                    "select :m, (array['completed', 'failed', 'queued'])[1 + (h % 3)], nullif(h % 6, 0), "
                    "  :first + make_interval(hours => h, mins => (h * 7 + :n) % 60) "
                    "from generate_series(0, 24 * 9 - 1) h"
                ),
                {"m": model, "n": n, "first": _at(2026, 11, 12)},
            )
        conn.execute(
            sa.text("insert into jobs (api_model_id, status, created_at) values (null, 'failed', :c)"),
            {"c": _at(2026, 11, 20, 5)},
        )
    UsageService(engine, user_id=admin).fold()
    with engine.begin() as conn:  # pending: later hours of those days, and jobs moved out of their hour and model
        conn.execute(sa.text("update jobs set status = 'completed' where extract(hour from created_at) = 23"))
        conn.execute(sa.text("update jobs set created_at = created_at - interval '5 hours' where quality_rating = 5"))
        conn.execute(sa.text("update jobs set api_model_id = :m where quality_rating = 4"), {"m": models[1]})
    for period in EDGE_RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period
    _assert_days_equal(engine, admin, models, other, EDGE_RANGES)
    UsageService(engine, user_id=admin).fold()
    for period in EDGE_RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period
    _assert_days_equal(engine, admin, models, other, EDGE_RANGES)


# ─── Per day: totals of every model minus the models left out ────────────────────────────────────
@pytest.mark.parametrize(("short_days", "by_model_max"), [(0, 500), (3, 500), (10_000, 500), (3, 0)])
def test_per_day_totals_equal_jobs_counted_per_day_for_every_filter(
    engine, catalogue, monkeypatch, short_days, by_model_max
):
    monkeypatch.setattr(usage_queries, "SHORT_RANGE_DAYS", short_days)
    monkeypatch.setattr(usage_queries, "BY_MODEL_MAX", by_model_max)  # 0: every list read by one range scan
    models, admin, other = catalogue
    rng = random.Random(short_days)
    _random_writes(engine, models, rng, 80)
    UsageService(engine, user_id=admin).fold()
    _random_writes(engine, models, rng, 30)  # pending deltas too
    _assert_days_equal(engine, admin, models, other, ALL_RANGES)


def test_per_day_totals_leave_out_jobs_of_a_model_the_catalogue_does_not_have(engine, catalogue):
    """A live jobs table may have no foreign key to api_models: the totals per day count jobs of a model the
    catalogue does not have, and a filter's list of models left out (every model with jobs it does not keep)
    takes them out again."""
    models, admin, other = catalogue
    with engine.begin() as conn:
        conn.execute(sa.text("alter table public.jobs drop constraint jobs_api_model_id_fkey"))
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) select :m, 'failed', :t from generate_series(1, 7)"
            ),
            {"m": uuid.uuid4(), "t": NOW - timedelta(days=5)},
        )
    _random_writes(engine, models, random.Random(5), 40)
    UsageService(engine, user_id=admin).fold()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select sum(jobs) from dashboard.job_usage_day_totals")).scalar() >= 7
    _assert_days_equal(
        engine, admin, models, other, [UsageRange(), UsageRange.preset("30d", now=NOW), *MONTH_RANGES[:3]]
    )


# ─── Folds racing writers ──────────────────────────────────────────────────────────────────────
def test_folds_racing_writers_keep_every_rollup_and_every_read_exact(engine, catalogue):
    models, admin, other = catalogue
    stop = threading.Event()
    mismatches: list = []

    def fold() -> None:
        while not stop.is_set():
            UsageService(engine, user_id=admin).fold()

    def read() -> None:
        # One statement, one snapshot: all-time totals from the coarse rollups against jobs themselves.
        ours = sa.select(sa.func.coalesce(sa.func.sum(sa.column("jobs")), 0)).select_from(
            usage_queries.model_totals_source(None, None)
        )
        theirs = (
            sa.select(sa.func.count())
            .select_from(sa.table("jobs", sa.column("api_model_id")))
            .where(sa.column("api_model_id").is_not(None))
        )
        while not stop.is_set():
            with engine.connect() as conn:
                row = conn.execute(sa.select(theirs.scalar_subquery(), ours.scalar_subquery())).one()
            if row[0] != row[1]:
                mismatches.append(tuple(row))

    threads = [threading.Thread(target=fold), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(3):
            _, errors = run_together(
                lambda seed_: _random_writes(engine, models, random.Random(seed_), 20),
                [round_ * 10 + i for i in range(3)],
            )
            assert not [e for e in errors if "deadlock" not in str(e)], errors
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert mismatches == []
    _assert_kept_from_daily(engine)
    for period in ALL_RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period
    _assert_days_equal(engine, admin, models, other, MONTH_RANGES[:4])


# ─── Recount, truncation, who may read ────────────────────────────────────────────────────────────
def test_a_recount_and_a_truncation_of_jobs_carry_over_to_the_coarse_rollups(engine, catalogue):
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(8), 60)
    with engine.begin() as conn:
        conn.execute(sa.text("alter table jobs disable trigger dashboard_job_usage_insert"))
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) "
                "select :m, 'completed', :t from generate_series(1, 9)"
            ),
            {"m": models[1], "t": _at(2026, 10, 2, 4)},
        )
        conn.execute(sa.text("alter table jobs enable trigger dashboard_job_usage_insert"))
        conn.execute(sa.text("select dashboard.rebuild_job_usage()"))
    _assert_kept_from_daily(engine)
    for period in ALL_RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period
    with engine.begin() as conn:
        conn.execute(sa.text("truncate jobs"))
    with engine.connect() as conn:
        for table in _KEPT:
            assert conn.execute(sa.text(f"select count(*) from dashboard.{table}")).scalar_one() == 0
    make_job(engine, models[0], status="failed")
    assert _exact(engine, admin, UsageRange())[models[0]][:3] == (1, 0, 1)


def test_only_admins_read_the_coarse_rollups(engine, catalogue):
    models, admin, _ = catalogue
    make_job(engine, models[0])
    UsageService(engine, user_id=admin).fold()
    viewer = make_user(engine)
    with engine.connect() as conn:
        for person, seen in ((viewer, 0), (admin, 1)):
            _as_person(conn, person)
            for table in _KEPT:
                assert conn.execute(sa.text(f"select count(*) > 0 from dashboard.{table}")).scalar_one() == bool(seen)
            conn.rollback()
        conn.execute(sa.text("set local role anon"))
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(sa.text("select 1 from dashboard.job_usage_total"))


# ─── The migration, onto rollups already filled ───────────────────────────────────────────────────
def test_migrating_fills_the_coarse_rollups_from_the_daily_one_not_from_jobs(fresh_database):
    engine = create_db_engine(fresh_database)
    try:
        migrate(engine, [m for m in load_migrations() if m.version < "0016"])
        provider = make_provider(engine)
        models = [make_model(engine, provider, display_name=f"M{i}") for i in range(3)]
        admin = make_user(engine, "admin")
        rng = random.Random(11)
        _random_writes(engine, models, rng, 80)
        UsageService(engine, user_id=admin).fold()
        _random_writes(engine, models, rng, 20)  # left as deltas
        with engine.begin() as conn:  # jobs the rollups never saw: a backfill from jobs would count them
            conn.execute(sa.text("alter table jobs disable trigger dashboard_job_usage_insert"))
            conn.execute(
                sa.text("insert into jobs (api_model_id, status) select :m, 'queued' from generate_series(1, 5)"),
                {"m": models[0]},
            )
            conn.execute(sa.text("alter table jobs enable trigger dashboard_job_usage_insert"))
        # 0016, and the later ones the reads below need (0022's held deltas); none of them recounts.
        assert migrate(engine)[0] == "0016"
        _assert_kept_from_daily(engine)
        for period in ALL_RANGES:
            with engine.connect() as conn:
                coarse = conn.execute(
                    sa.select(sa.func.sum(sa.column("jobs"))).select_from(
                        usage_queries.model_totals_source(period.start, period.end)
                    )
                ).scalar()
                daily = conn.execute(
                    sa.select(sa.func.sum(sa.column("jobs"))).select_from(
                        usage_queries.rollup_source(period.start, period.end)
                    )
                ).scalar()
            assert coarse == daily, period
        _random_writes(engine, models, rng, 40)
        UsageService(engine, user_id=admin).fold()
        _assert_kept_from_daily(engine)
        assert migrate(engine) == []
    finally:
        engine.dispose()


def test_a_recount_lays_the_rollups_out_by_time_and_the_per_day_read_needs_no_table_visit(engine, catalogue):
    """After a recount the rows of one hour lie together (the 24-hour page's read), and a model's days are read
    from its index alone (the per-day chart's subtraction of the models left out): counts equal either way."""
    models, admin, other = catalogue
    rng = random.Random(19)
    with engine.begin() as conn:  # a backfill with the triggers off, many models interleaved in every hour
        conn.execute(sa.text("alter table jobs disable trigger dashboard_job_usage_insert"))
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, quality_rating, created_at) "
                "select (cast(:models as uuid[]))[1 + (g * 7919) % 5], "
                "(array['completed', 'failed', 'queued'])[1 + g % 3], nullif(g % 6, 0), "
                ":start + (g * 104729 % 2000) * interval '7 minutes' from generate_series(1, 3000) g"
            ),
            {"models": [str(m) for m in rng.sample(models, 5)], "start": _at(2026, 9, 1, 0)},
        )
        conn.execute(sa.text("alter table jobs enable trigger dashboard_job_usage_insert"))
    UsageService(engine, user_id=admin).rebuild()
    with engine.connect() as conn:
        for table in ("job_usage_hourly", "job_usage_daily", "job_latency_hourly", "job_latency_daily"):
            buckets = conn.execute(sa.text(f"select bucket from dashboard.{table} order by ctid")).scalars().all()
            assert buckets == sorted(buckets), table
        visible = conn.execute(
            sa.text(
                "select pg_relation_size('dashboard.job_usage_daily') / current_setting('block_size')::int "
                "= (select relallvisible from pg_class where oid = 'dashboard.job_usage_daily'::regclass)"
            )
        ).scalar_one()
        assert visible  # vacuumed: every page all-visible, so the read by model stays in the index
        conn.execute(sa.text("set local enable_seqscan = off"))
        conn.execute(sa.text("set local enable_bitmapscan = off"))
        plan = "\n".join(
            conn.execute(
                sa.text(
                    "explain select bucket, status, jobs, rated, rating_sum from dashboard.job_usage_daily "
                    "where api_model_id = :m and bucket >= :lo"
                ),
                {"m": models[0], "lo": _at(2026, 9, 2, 0)},
            ).scalars()
        )
        assert "Index Only Scan using job_usage_daily_model_counts_idx" in plan
    for period in ALL_RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period
    _assert_days_equal(engine, admin, models, other, [UsageRange(), UsageRange(start=_at(2026, 9, 3, 5))])


def test_migrating_lays_out_rollups_counted_before_and_keeps_every_count(fresh_database):
    """A project counted before 0019 (the recount's hash order) is laid out by time when it migrates."""
    engine = create_db_engine(fresh_database)
    try:
        migrate(engine, [m for m in load_migrations() if m.version < "0019"])
        provider = make_provider(engine, display_name=hostile.HTML)
        models = [make_model(engine, provider, display_name=f"M{i}") for i in range(4)]
        admin = make_user(engine, "admin")
        _random_writes(engine, models, random.Random(23), 120)
        with engine.begin() as conn:
            conn.execute(sa.text("select dashboard.rebuild_job_usage()"))  # the old recount: no layout
        before = {period: _seed(engine, period) for period in ALL_RANGES}  # (today's reads need 0022's table)
        assert migrate(engine)[0] == "0019"
        with engine.connect() as conn:
            for table in ("job_usage_hourly", "job_usage_daily", "job_latency_hourly", "job_latency_daily"):
                buckets = conn.execute(sa.text(f"select bucket from dashboard.{table} order by ctid")).scalars().all()
                assert buckets == sorted(buckets), table
        for period in ALL_RANGES:
            assert _exact(engine, admin, period) == before[period] == _seed(engine, period), period
    finally:
        engine.dispose()
