"""Jobs with no creation time or no status (migration 0022): a live jobs table may allow them. The platform's writes
succeed, every fold goes on, and every read counts them as the seed's query does: in all time, in no range with a
bound, in neither completed nor failed; the per-day rows leave out a job with no day. A recount holds them as a
fold does (migration 0023)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE
from dashboard.queries import usage as q
from dashboard.services.usage import NO_STATUS, UsageRange, UsageService
from tests.integration.test_usage import NOW, RANGES, _exact, _random_writes, _seed, catalogue  # noqa: F401
from tests.seed_spec import seed_queries

SEED_USAGE = seed_queries()["Get models with usage statistics"]  # over all time, verbatim


@pytest.fixture
def loose_jobs(engine, catalogue):  # noqa: F811
    """A jobs table, as some live ones are, whose created_at and status may be null."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("alter table jobs alter column created_at drop not null, alter column status drop not null")
        )
    return catalogue


def _odd_writes(engine, models) -> None:
    """What another program may write: no status, no creation time, neither; one fixed later, one deleted."""
    day = NOW - timedelta(days=3)
    rows = [
        {"m": models[0], "s": None, "q": 4, "c": day},
        {"m": models[1], "s": "completed", "q": 5, "c": None},
        {"m": models[2], "s": None, "q": None, "c": None},
        {"m": models[0], "s": "failed", "q": 1, "c": None},
    ]
    with engine.begin() as conn:
        ids = [
            conn.execute(
                sa.text(
                    "insert into jobs (api_model_id, status, quality_rating, created_at) "
                    "values (:m, :s, :q, :c) returning id"
                ),
                row,
            ).scalar_one()
            for row in rows
        ]
        conn.execute(  # many at once too: one statement, one delta per (model, status, hour)
            sa.text(
                "insert into jobs (api_model_id, status, created_at) select :m, null, null from generate_series(1, 5)"
            ),
            {"m": models[3]},
        )
    with engine.begin() as conn:
        conn.execute(
            sa.text("update jobs set created_at = :c, status = 'completed' where id = :id"), {"c": day, "id": ids[2]}
        )
        conn.execute(sa.text("update jobs set status = null where id = :id"), {"id": ids[1]})
        conn.execute(sa.text("delete from jobs where id = :id"), {"id": ids[3]})


def _all_time(engine, admin) -> tuple[dict, dict]:
    """(the seed's query, ours) over all time, per model name: total, completed, failed, average rating."""
    with engine.connect() as conn:
        seed = {r.display_name: tuple(r)[4:] for r in conn.execute(sa.text(SEED_USAGE))}
    frame = UsageService(engine, user_id=admin).by_model(UsageRange(), exact=True)
    ours = {
        r.display_name: (r.total_jobs, r.completed_jobs, r.failed_jobs, r.avg_quality_rating)
        for r in frame.itertuples()
    }
    return seed, ours


def _assert_exact(engine, admin) -> None:
    seed, ours = _all_time(engine, admin)
    assert ours == seed
    for period in RANGES[1:]:
        assert _exact(engine, admin, period) == _seed(engine, period), period


def test_folds_go_on_and_every_read_counts_them_as_the_seed_does(engine, loose_jobs):
    models, admin = loose_jobs
    rng = random.Random(3)
    _random_writes(engine, models, rng, 40)
    _odd_writes(engine, models)
    _assert_exact(engine, admin)  # pending
    service = UsageService(engine, user_id=admin)
    service.fold()
    with engine.connect() as conn:
        held = conn.execute(sa.text("select count(*) from dashboard.job_usage_held")).scalar_one()
        pending = conn.execute(q.PENDING).scalar_one()
    assert held > 0 and pending == 0
    _assert_exact(engine, admin)  # folded, the odd ones held
    _random_writes(engine, models, rng, 30)
    _odd_writes(engine, models)
    service.fold()
    _assert_exact(engine, admin)


def test_per_day_rows_leave_out_jobs_with_no_day_and_name_a_missing_status(engine, loose_jobs):
    models, admin = loose_jobs
    _odd_writes(engine, models)
    UsageService(engine, user_id=admin).fold()
    with engine.connect() as conn:
        expected = {
            (day, status or NO_STATUS): jobs
            for day, status, jobs in conn.execute(
                sa.text(
                    "select date_trunc('day', created_at, 'UTC'), status, count(*) from jobs "
                    "where created_at is not null group by 1, 2"
                )
            )
        }
    for period in (UsageRange(), UsageRange(start=NOW - timedelta(days=10))):
        _, days = UsageService(engine, user_id=admin).report(period)
        assert {(row.day.to_pydatetime(), row.status): row.jobs for row in days.itertuples()} == expected
        by_day = UsageService(engine, user_id=admin).by_day(period)
        assert by_day["day"].notna().all() and NO_STATUS in set(by_day["status"])


def test_the_platforms_writes_succeed_as_the_service_key_makes_them(engine, loose_jobs):
    models, _ = loose_jobs
    from dashboard.database import acting_as

    with acting_as(engine, SERVICE_ROLE) as conn:
        conn.execute(
            sa.text("insert into jobs (api_model_id, status, created_at) values (:m, null, null)"), {"m": models[0]}
        )
        conn.execute(
            sa.text("update jobs set status = null, created_at = null where api_model_id = :m"), {"m": models[0]}
        )


def _durations_counted(engine) -> tuple[int, int]:
    """(jobs in the latency rollups, completed jobs with both times): a held job has no duration to count."""
    with engine.connect() as conn:
        rolled = conn.execute(sa.text("select coalesce(sum(jobs), 0) from dashboard.job_latency_daily")).scalar_one()
        timed = conn.execute(
            sa.text(
                "select count(*) from jobs where api_model_id is not null and status = 'completed' "
                "and created_at is not null and completed_at is not null"
            )
        ).scalar_one()
    return rolled, timed


def test_a_recount_holds_them_and_counts_as_the_seed_does_before_and_after_they_are_fixed(engine, loose_jobs):
    models, admin = loose_jobs
    _random_writes(engine, models, random.Random(8), 30)
    _odd_writes(engine, models)
    with engine.begin() as conn:  # completed, with no creation time and an absurd completion: no duration either
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at, completed_at) "
                "values (:m, 'completed', null, 'infinity'), (:m, 'completed', null, now())"
            ),
            {"m": models[1]},
        )
    service = UsageService(engine, user_id=admin)
    with engine.connect() as conn:
        jobs = conn.execute(sa.text("select count(*) from jobs where api_model_id is not null")).scalar_one()
        odd = conn.execute(
            sa.text(
                "select count(*) from jobs where api_model_id is not null and (created_at is null or status is null)"
            )
        ).scalar_one()
    assert service.rebuild() == jobs
    with engine.connect() as conn:
        assert conn.execute(sa.text("select coalesce(sum(jobs), 0) from dashboard.job_usage_held")).scalar_one() == odd
        assert conn.execute(q.PENDING).scalar_one() == 0
    _assert_exact(engine, admin)
    rolled, timed = _durations_counted(engine)
    assert rolled == timed
    with engine.begin() as conn:  # fixed later: a delta whose old side is the held one
        conn.execute(
            sa.text("update jobs set created_at = :c where created_at is null"),
            {"c": datetime(2026, 11, 1, tzinfo=UTC)},
        )
        conn.execute(sa.text("update jobs set status = 'queued' where status is null"))
    _assert_exact(engine, admin)  # pending
    service.fold()
    _assert_exact(engine, admin)  # folded: the fix held beside what the recount held
    service.rebuild()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from dashboard.job_usage_held")).scalar_one() == 0
    _assert_exact(engine, admin)


def test_only_admins_read_the_held_deltas(engine, loose_jobs):
    from dashboard.database import acting_as
    from tests.factories import make_user

    models, admin = loose_jobs
    _odd_writes(engine, models)
    UsageService(engine, user_id=admin).fold()
    for person, rows in ((admin, True), (SERVICE_ROLE, True), (make_user(engine, "user"), False)):
        with acting_as(engine, person) as conn:
            assert bool(conn.execute(sa.text("select count(*) from dashboard.job_usage_held")).scalar_one()) is rows
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), acting_as(engine, None) as conn:
        conn.execute(sa.text("select 1 from dashboard.job_usage_held")).all()


def test_migrating_a_live_project_whose_jobs_hold_them_counts_at_once(fresh_database):
    """A live project whose jobs already hold such rows when it first attaches: migrating finishes (it refused
    before migration 0023, so the dashboard did not start), and the counts are the seed's."""
    from dashboard.database import create_db_engine
    from db.migrate import migrate
    from tests.factories import make_model, make_provider, make_user

    engine = create_db_engine(fresh_database)
    try:
        migrate(engine)
        model = make_model(engine, make_provider(engine))
        with engine.begin() as conn:
            conn.execute(
                sa.text("alter table jobs alter column created_at drop not null, alter column status drop not null")
            )
            conn.execute(sa.text("update dashboard.usage_state set counted_at = null"))  # as before a first count
            conn.execute(
                sa.text(
                    "insert into jobs (api_model_id, status, created_at) "
                    "values (:m, 'queued', null), (:m, null, now()), (:m, 'completed', now())"
                ),
                {"m": model},
            )
        assert migrate(engine) == []
        with engine.connect() as conn:
            assert conn.execute(sa.text("select counted_at is not null from dashboard.usage_state")).scalar_one()
            assert conn.execute(sa.text("select sum(jobs) from dashboard.job_usage_held")).scalar_one() == 2
        _assert_exact(engine, make_user(engine, "admin"))
    finally:
        engine.dispose()
