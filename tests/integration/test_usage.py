"""Usage from the rollups equals the seed's query on the same data, at every moment, for every range."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.database import create_db_engine
from dashboard.queries import models as seed
from dashboard.queries import usage as usage_queries
from dashboard.services import ModelService
from dashboard.services.errors import NotAllowed
from dashboard.services.usage import InvalidRange, UsageFilters, UsageRange, UsageService, group_usage
from db.migrate import load_migrations, migrate
from tests.concurrency import run_together
from tests.factories import make_job, make_model, make_provider, make_user

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
STATUSES = ("queued", "processing", "completed", "failed", "cancelled")

# The seed's usage query with the range in the join, and its average as text: the contract, verbatim.
SEED_IN_RANGE = sa.text("""
SELECT am.id, COUNT(j.id) as total_jobs,
    COUNT(j.id) FILTER (WHERE j.status = 'completed') as completed_jobs,
    COUNT(j.id) FILTER (WHERE j.status = 'failed') as failed_jobs,
    AVG(j.quality_rating)::text as avg_quality_rating
FROM api_models am
JOIN api_providers ap ON am.provider_id = ap.id
LEFT JOIN jobs j ON am.id = j.api_model_id AND j.created_at >= :start AND j.created_at < :end
WHERE am.is_active = true
GROUP BY am.id
""")


@pytest.fixture
def catalogue(engine):
    provider = make_provider(engine)
    models = [make_model(engine, provider, display_name=f"M{i}") for i in range(4)]
    make_model(engine, provider, display_name="Off", is_active=False)
    admin = make_user(engine, "admin")
    return models, admin


def _as_person(conn, user_id) -> None:
    """The rest of this transaction runs as this signed-in person."""
    claims = f'{{"sub": "{user_id}", "role": "authenticated"}}'
    conn.execute(
        sa.text("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', :c, true)"),
        {"c": claims},
    )


def _random_writes(engine, models, rng: random.Random, count: int) -> None:
    """Inserts, status and rating changes, model moves, re-dating and deletes, in mixed statements."""
    with engine.begin() as conn:
        for _ in range(count):
            op = rng.random()
            ids = conn.execute(sa.text("select id from jobs order by random() limit 3")).scalars().all()
            if op < 0.45 or not ids:
                conn.execute(
                    sa.text(
                        "insert into jobs (api_model_id, status, quality_rating, created_at) values (:m, :s, :q, :c)"
                    ),
                    {
                        "m": rng.choice([*models, None]),
                        "s": rng.choice(STATUSES),
                        "q": rng.choice([None, 1, 3, 5]),
                        "c": NOW - timedelta(minutes=rng.randrange(0, 60 * 24 * 40)),
                    },
                )
            elif op < 0.7:
                conn.execute(
                    sa.text("update jobs set status = :s, quality_rating = :q where id = any(:ids)"),
                    {"s": rng.choice(STATUSES), "q": rng.choice([None, 2, 4]), "ids": ids},
                )
            elif op < 0.8:
                conn.execute(
                    sa.text("update jobs set api_model_id = :m where id = :id"),
                    {"m": rng.choice([*models, None]), "id": ids[0]},
                )
            elif op < 0.88:
                conn.execute(
                    sa.text("update jobs set created_at = created_at - interval '3 days 7 hours' where id = :id"),
                    {"id": ids[0]},
                )
            elif op < 0.93:
                conn.execute(sa.text("update jobs set error_message = 'x' where id = :id"), {"id": ids[0]})
            else:
                conn.execute(sa.text("delete from jobs where id = any(:ids)"), {"ids": ids[:2]})


def _seed(engine, period: UsageRange) -> dict:
    start = period.start or datetime(1, 1, 1, tzinfo=UTC)
    end = period.end or datetime(9999, 1, 1, tzinfo=UTC)
    with engine.connect() as conn:
        rows = conn.execute(SEED_IN_RANGE, {"start": start, "end": end}).all()
    return {r.id: (r.total_jobs, r.completed_jobs, r.failed_jobs, r.avg_quality_rating) for r in rows}


def _exact(engine, admin, period: UsageRange) -> dict:
    """Ours, with the average as the database's exact text (what usage_stats turns into a float)."""
    frame = UsageService(engine, user_id=admin).by_model(period, exact=True)
    return {
        r.model_id: (
            r.total_jobs,
            r.completed_jobs,
            r.failed_jobs,
            None if r.avg_quality_rating is None else str(r.avg_quality_rating),
        )
        for r in frame.itertuples()
    }


RANGES = [
    UsageRange(),
    UsageRange.preset("24h", now=NOW),
    UsageRange.preset("7d", now=NOW),
    UsageRange.preset("30d", now=NOW),
    UsageRange(start=NOW - timedelta(days=9, hours=5), end=NOW - timedelta(days=2, hours=3)),
    UsageRange(start=NOW - timedelta(hours=30), end=NOW - timedelta(hours=20)),  # across midnight, no whole day
    UsageRange(start=NOW - timedelta(hours=5), end=NOW - timedelta(hours=4)),  # one hour
    UsageRange(end=NOW - timedelta(days=10)),
    UsageRange.between_days((NOW - timedelta(days=12)).date(), (NOW - timedelta(days=3)).date()),
]


def test_equal_to_the_seed_after_random_writes_folds_and_ranges(engine, catalogue):
    models, admin = catalogue
    rng = random.Random(4)
    for round_ in range(6):
        _random_writes(engine, models, rng, 40)
        if round_ % 2:
            assert UsageService(engine, user_id=admin).fold() > 0
        for period in RANGES:
            assert _exact(engine, admin, period) == _seed(engine, period), (round_, period)


# What 0005 added to jobs before 0010 took its triggers over: the state of a database migrated back then.
_TRIGGERS_OF_0005 = """
create trigger dashboard_job_usage_insert after insert on public.jobs
  for each row when (new.api_model_id is not null) execute function dashboard.record_job_insert();
create trigger dashboard_job_usage_delete after delete on public.jobs
  for each row when (old.api_model_id is not null) execute function dashboard.record_job_delete();
create trigger dashboard_job_usage_update after update on public.jobs
  for each row when (old.api_model_id is distinct from new.api_model_id or old.status is distinct from new.status
                     or old.quality_rating is distinct from new.quality_rating
                     or old.created_at is distinct from new.created_at)
  execute function dashboard.record_job_update();
"""


def _migrated_as_before_0009(engine) -> list[str]:
    """Migrate up to 0008 as a database was then (0005's triggers on jobs); return the versions still to apply."""
    migrate(engine, [m for m in load_migrations() if m.version < "0009"])
    with engine.begin() as conn:
        conn.exec_driver_sql(_TRIGGERS_OF_0005)
    return [m.version for m in load_migrations() if m.version >= "0009"]


def test_deltas_written_before_the_one_row_shape_are_carried_over(fresh_database):
    """0009 changes the delta table's shape: what 0005's triggers wrote must still be counted, exactly."""
    engine = create_db_engine(fresh_database)
    try:
        remaining = _migrated_as_before_0009(engine)
        provider = make_provider(engine)
        models = [make_model(engine, provider, display_name=f"M{i}") for i in range(3)]
        admin = make_user(engine, "admin")
        rng = random.Random(9)
        _random_writes(engine, models, rng, 60)
        UsageService(engine, user_id=admin).fold()
        _random_writes(engine, models, rng, 60)
        with engine.connect() as conn:  # the one delta table there was then
            assert conn.execute(sa.text("select count(*) from dashboard.job_usage_delta")).scalar_one() > 0
        assert migrate(engine) == remaining
        with engine.connect() as conn:
            assert conn.execute(usage_queries.PENDING).scalar_one() == 0  # folded by the migration
        for period in RANGES:
            assert _exact(engine, admin, period) == _seed(engine, period), period
        _random_writes(engine, models, rng, 60)
        for period in RANGES:
            assert _exact(engine, admin, period) == _seed(engine, period), period
        assert UsageService(engine, user_id=admin).fold() > 0
        assert _exact(engine, admin, UsageRange()) == _seed(engine, UsageRange())
    finally:
        engine.dispose()


def test_the_reshaping_migration_waits_for_open_writers_and_loses_none(fresh_database):
    """A writer whose job is still uncommitted when 0009 starts: 0009 waits for it, then folds its delta."""
    engine = create_db_engine(fresh_database)
    try:
        remaining = _migrated_as_before_0009(engine)
        model = make_model(engine, make_provider(engine))
        admin = make_user(engine, "admin")
        with engine.connect() as writer:
            writer.execute(sa.text("insert into jobs (api_model_id, status) values (:m, 'queued')"), {"m": model})
            applied: list[list[str]] = []
            migrating = threading.Thread(target=lambda: applied.append(migrate(engine)))
            migrating.start()
            migrating.join(timeout=1.5)
            assert migrating.is_alive()  # held by the open writer's lock on jobs
            writer.execute(sa.text("update jobs set status = 'completed', quality_rating = 4"))
            writer.commit()
        migrating.join(timeout=30)
        assert applied == [remaining]
        make_job(engine, model, status="failed")  # through the new triggers
        for period in RANGES:
            assert _exact(engine, admin, period) == _seed(engine, period), period
        assert _exact(engine, admin, UsageRange())[model][:3] == (2, 1, 1)
    finally:
        engine.dispose()


def test_an_update_writes_one_delta_row_and_moves_between_models_and_hours(engine, catalogue):
    (m0, m1, *_), admin = catalogue
    job = make_job(engine, m0, status="queued")
    with engine.begin() as conn:
        conn.execute(sa.text("update jobs set status = 'completed', quality_rating = 5 where id = :id"), {"id": job})
        conn.execute(
            sa.text("update jobs set api_model_id = :m, created_at = created_at - interval '26 hours' where id = :id"),
            {"m": m1, "id": job},
        )
        conn.execute(sa.text("update jobs set error_message = 'slow' where id = :id"), {"id": job})  # not counted
        conn.execute(sa.text("update jobs set api_model_id = null where id = :id"), {"id": job})
        conn.execute(sa.text("update jobs set status = 'failed' where id = :id"), {"id": job})  # no model: nothing
        conn.execute(sa.text("update jobs set api_model_id = :m where id = :id"), {"m": m0, "id": job})
        assert conn.execute(usage_queries.PENDING).scalar_one() == 5
    for period in RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period
    assert UsageService(engine, user_id=admin).fold() == 5
    for period in RANGES:
        assert _exact(engine, admin, period) == _seed(engine, period), period


def test_usage_stats_is_the_seed_query_frame(engine, catalogue):
    models, admin = catalogue
    _random_writes(engine, models, random.Random(9), 60)
    ours = ModelService(engine, user_id=admin).usage_stats()
    with engine.connect() as conn:
        theirs = pd.DataFrame(conn.execute(seed.USAGE_STATS).all(), columns=seed.USAGE_COLUMNS)
    theirs["avg_quality_rating"] = pd.to_numeric(theirs["avg_quality_rating"]).astype(float)
    assert list(ours.columns) == seed.USAGE_COLUMNS
    assert list(ours["total_jobs"]) == sorted(ours["total_jobs"], reverse=True)
    key = ["display_name"]
    pd.testing.assert_frame_equal(
        ours.sort_values(key).reset_index(drop=True),
        theirs.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


def test_a_job_written_a_moment_ago_is_counted(engine, catalogue):
    (model, *_), admin = catalogue
    service = ModelService(engine, user_id=admin)
    job = make_job(engine, model, status="queued")
    row = service.usage_stats().set_index("display_name").loc["M0"]
    assert (row.total_jobs, row.completed_jobs) == (1, 0)
    with engine.begin() as conn:
        conn.execute(sa.text("update jobs set status = 'completed', quality_rating = 4 where id = :id"), {"id": job})
    row = service.usage_stats().set_index("display_name").loc["M0"]
    assert (row.total_jobs, row.completed_jobs, row.avg_quality_rating) == (1, 1, 4.0)


def test_an_uncommitted_job_is_not_counted_and_a_rolled_back_one_never(engine, catalogue):
    (model, *_), admin = catalogue
    with engine.connect() as conn:
        conn.execute(sa.text("insert into jobs (api_model_id) values (:m)"), {"m": model})
        assert _exact(engine, admin, UsageRange()) == _seed(engine, UsageRange())
        conn.rollback()
    assert _exact(engine, admin, UsageRange())[model][0] == 0


def test_truncating_jobs_empties_the_counts(engine, catalogue):
    (model, *_), admin = catalogue
    make_job(engine, model)
    UsageService(engine, user_id=admin).fold()
    with engine.begin() as conn:
        conn.execute(sa.text("truncate jobs"))
    assert _exact(engine, admin, UsageRange())[model][0] == 0


def test_rebuild_recounts_writes_made_with_triggers_off(engine, catalogue):
    (model, *_), admin = catalogue
    with engine.begin() as conn:
        conn.execute(sa.text("alter table jobs disable trigger dashboard_job_usage_insert"))
        conn.execute(sa.text("insert into jobs (api_model_id) select :m from generate_series(1, 5)"), {"m": model})
        conn.execute(sa.text("alter table jobs enable trigger dashboard_job_usage_insert"))
    assert _exact(engine, admin, UsageRange())[model][0] == 0  # what triggers never saw
    with engine.begin() as conn:
        assert conn.execute(sa.text("select dashboard.rebuild_job_usage()")).scalar_one() == 5
    assert _exact(engine, admin, UsageRange()) == _seed(engine, UsageRange())


def test_concurrent_writers_and_folds_lose_nothing(engine, catalogue):
    models, admin = catalogue
    stop = threading.Event()

    def writer(seed_: int) -> None:
        _random_writes(engine, models, random.Random(seed_), 25)

    def folder() -> None:
        while not stop.is_set():
            UsageService(engine, user_id=admin).fold()

    thread = threading.Thread(target=folder)
    thread.start()
    try:
        for round_ in range(3):
            _, errors = run_together(writer, [round_ * 10 + i for i in range(4)])
            assert not [e for e in errors if "deadlock" not in str(e)], errors
    finally:
        stop.set()
        thread.join()
    for period in RANGES[:3]:
        assert _exact(engine, admin, period) == _seed(engine, period)


def test_two_folds_at_once_fold_each_delta_once(engine, catalogue):
    (model, *_), admin = catalogue
    for _ in range(30):
        make_job(engine, model)
    folded, errors = run_together(lambda _: UsageService(engine, user_id=admin).fold(), range(4))
    assert not errors and sum(folded) <= 30
    UsageService(engine, user_id=admin).fold()
    assert _exact(engine, admin, UsageRange())[model][0] == 30


def test_plain_users_count_their_own_jobs_and_never_read_the_rollups(engine, catalogue):
    (model, other, *_), admin = catalogue
    viewer = make_user(engine)
    make_job(engine, model, viewer, quality_rating=5)
    make_job(engine, model, admin)
    make_job(engine, other, admin)
    mine = UsageService(engine, user_id=viewer).by_model().set_index("display_name")
    assert mine.loc["M0", "total_jobs"] == 1 and mine.loc["M1", "total_jobs"] == 0
    with engine.connect() as conn:
        _as_person(conn, viewer)
        for table in ("job_usage_delta", "job_usage_hourly", "job_usage_daily"):
            assert conn.execute(sa.text(f"select count(*) from dashboard.{table}")).scalar_one() == 0
        assert conn.execute(sa.text("select dashboard.fold_job_usage()")).scalar_one() == 0
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(
                sa.text(
                    "insert into dashboard.job_usage_delta (api_model_id, status, created_at) "
                    "values (:m, 'completed', now())"
                ),
                {"m": model},
            )


def test_anonymous_visitors_see_no_usage(engine, catalogue):
    (model, *_), _admin = catalogue
    make_job(engine, model)
    with pytest.raises(NotAllowed):  # anon has no grant on the catalogue at all, not even an empty read
        UsageService(engine, user_id=None).by_model()


def test_a_hostile_search_path_cannot_hijack_the_trigger(engine, catalogue):
    """A caller's search_path reaches nothing in the triggers: their search_path is fixed and empty (0010)."""
    (model, *_), admin = catalogue
    viewer = make_user(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("create schema evil"))
        conn.execute(
            sa.text(
                "create function evil.date_trunc(text, timestamptz, text) returns timestamptz "
                "language sql as $$ select 'epoch'::timestamptz $$"
            )
        )
        conn.execute(sa.text("create function evil.coalesce_neg(int) returns int language sql as $$ select 99 $$"))
        conn.execute(sa.text("create operator evil.- (rightarg = int, function = evil.coalesce_neg)"))
        conn.execute(sa.text("grant usage on schema evil to authenticated"))
    with engine.begin() as conn:
        conn.execute(sa.text("select set_config('search_path', 'evil, public, pg_catalog', true)"))
        _as_person(conn, viewer)
        job = conn.execute(
            sa.text("insert into public.jobs (api_model_id, user_id) values (:m, :u) returning id"),
            {"m": model, "u": viewer},
        ).scalar_one()
        conn.execute(sa.text("delete from public.jobs where id = :id"), {"id": job})
        conn.execute(
            sa.text("insert into public.jobs (api_model_id, user_id) values (:m, :u)"), {"m": model, "u": viewer}
        )
    assert _exact(engine, admin, UsageRange()) == _seed(engine, UsageRange())
    assert UsageService(engine, user_id=admin).fold() == 2  # two inserts; RLS kept the delete from happening
    assert _exact(engine, admin, UsageRange()) == _seed(engine, UsageRange())
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("select count(*) from dashboard.job_usage_hourly where bucket = 'epoch'")).scalar()
            == 0
        )


def test_reads_work_on_a_read_only_replica(engine, db_url, catalogue):
    (model, *_), admin = catalogue
    make_job(engine, model)
    replica = sa.create_engine(
        db_url.replace("postgresql://", "postgresql+psycopg://", 1),
        connect_args={"options": "-c default_transaction_read_only=on"},
    )
    try:
        service = UsageService(engine, user_id=admin, read_db=replica)
        assert service.by_model().set_index("display_name").loc["M0", "total_jobs"] == 1
        assert not service.by_day().empty
        assert service.fold() == 1  # folding goes to the primary
    finally:
        replica.dispose()


def test_filters_and_grouping(engine, catalogue):
    (m0, m1, *_), admin = catalogue
    other_provider = make_provider(engine, name="other")
    video = make_model(engine, other_provider, display_name="V", modality="video", task="generation")
    for model, status in [(m0, "completed"), (m0, "failed"), (m1, "completed"), (video, "failed")]:
        make_job(engine, model, status=status, quality_rating=4 if status == "completed" else None)
    service = UsageService(engine, user_id=admin)
    assert list(service.by_model(filters=UsageFilters(modality="video"))["display_name"]) == ["V"]
    assert list(service.by_model(filters=UsageFilters(provider_id=other_provider))["display_name"]) == ["V"]
    assert list(service.by_model(filters=UsageFilters(model_id=m1))["display_name"]) == ["M1"]
    with_inactive = service.by_model(filters=UsageFilters(active_only=False))
    assert "Off" in set(with_inactive["display_name"]) and "Off" not in set(service.by_model()["display_name"])
    by_modality = group_usage(service.by_model(), "modality").set_index("modality")
    assert by_modality.loc["image", "total_jobs"] == 3 and by_modality.loc["image", "failure_rate"] == pytest.approx(
        1 / 3
    )
    assert by_modality.loc["video", "avg_quality_rating"] != by_modality.loc["video", "avg_quality_rating"]  # NaN
    days = service.by_day(UsageRange.preset("24h"))
    assert set(days["status"]) == {"completed", "failed"} and days["jobs"].sum() == 4


@pytest.mark.parametrize(
    "make",
    [
        lambda: UsageRange(start=datetime(2026, 1, 1, 10, 30, tzinfo=UTC)),
        lambda: UsageRange(start=datetime(2026, 1, 1, 10)),  # no time zone
        lambda: UsageRange(start=NOW, end=NOW),
        lambda: UsageRange(start=NOW, end=NOW - timedelta(hours=1)),
        lambda: UsageRange.preset("'; drop table jobs; --"),
        lambda: UsageRange.between_days(NOW.date(), NOW.date() - timedelta(days=1)),
    ],
)
def test_ranges_that_cannot_be_answered_exactly_are_refused(make):
    with pytest.raises(InvalidRange):
        make()


def test_hostile_filter_values_change_nothing(engine, catalogue):
    (model, *_), admin = catalogue
    make_job(engine, model)
    service = UsageService(engine, user_id=admin)
    for hostile in ["image' or '1'='1", "<script>alert(1)</script>", "\u202eegami", "x" * 10_000]:
        assert service.by_model(filters=UsageFilters(modality=hostile, task=hostile)).empty
    assert _exact(engine, admin, UsageRange()) == _seed(engine, UsageRange())


def test_the_range_in_a_readable_form():
    assert UsageRange().describe() == "at any time"
    assert UsageRange(start=NOW).describe() == "from 2026-11-23 15:00 to now UTC"
    assert UsageRange.preset("24h", now=NOW).start == NOW - timedelta(hours=23)
    assert UsageRange.preset("7d", now=NOW).start == datetime(2026, 11, 17, tzinfo=UTC)


def test_a_plain_user_cannot_fold_for_everyone(engine, catalogue):
    (model, *_), _admin = catalogue
    make_job(engine, model)
    viewer = make_user(engine)
    assert UsageService(engine, user_id=viewer).fold() == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from dashboard.job_usage_delta")).scalar_one() == 1


def test_decimal_average_is_exactly_the_seed_digits(engine, catalogue):
    (model, *_), admin = catalogue
    for rating in (5, 4, 4):
        make_job(engine, model, quality_rating=rating)
    exact = _exact(engine, admin, UsageRange())[model][3]
    assert exact == "4.3333333333333333" == _seed(engine, UsageRange())[model][3]
    assert Decimal(exact)
