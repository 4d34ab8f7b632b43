"""Latency rollups (migration 0017): completed jobs per model and duration bucket, read from the rollups plus the
pending deltas, equal at every moment to the same figures counted from jobs itself, through inserts one by one and
in bulk, status changes to and from completed, completed_at set later, model and creation-time changes, deletes,
folds (with deltas pending in both rotating tables), a recount, a truncation, hostile rows and the migration."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import create_db_engine
from dashboard.queries import latency
from dashboard.queries.latency import EDGES, OPEN_BUCKET, bucket_of, latency_counts, percentile, upper_edge
from dashboard.queries.usage import DELTA_TABLES
from dashboard.services.usage import UsageService
from db.migrate import load_migrations, migrate
from tests.factories import make_model, make_provider, make_user
from tests.integration.test_usage import NOW, _as_person
from tests.live_shapes import SHAPES, build, owner_url

STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
RANGES = [
    (None, None),
    (NOW - timedelta(hours=24), NOW),
    (NOW - timedelta(days=7), None),
    (NOW - timedelta(days=9, hours=5), NOW - timedelta(days=2, hours=3)),
    (NOW - timedelta(hours=30), NOW - timedelta(hours=20)),  # across midnight, no whole day
    (NOW - timedelta(hours=5), NOW - timedelta(hours=4)),  # one hour
    (None, NOW - timedelta(days=10)),
]

# Each completed job's duration in seconds, as the database has it: infinite times compared, never subtracted.
_DURATIONS = sa.text("""
select api_model_id::text as model,
       case when completed_at <= created_at then -1.0
            when completed_at = 'infinity' or created_at = '-infinity' then 'infinity'::float8
            else extract(epoch from completed_at - created_at)::float8 end as seconds
from jobs
where api_model_id is not null and status = 'completed' and completed_at is not null
  and (cast(:start as timestamptz) is null or created_at >= :start)
  and (cast(:end as timestamptz) is null or created_at < :end)
""")


@pytest.fixture
def catalogue(engine):
    provider = make_provider(engine)
    models = [make_model(engine, provider, display_name=f"M{i}") for i in range(3)]
    return models, make_user(engine, "admin")


def _from_jobs(engine, start=None, end=None) -> dict:
    """{(model, bucket): jobs} counted from jobs one by one, the buckets by bucket_of in Python."""
    with engine.connect() as conn:
        rows = conn.execute(_DURATIONS, {"start": start, "end": end}).all()
    counts: dict = {}
    for model, seconds in rows:
        key = (model, bucket_of(seconds))
        counts[key] = counts.get(key, 0) + 1
    return counts


def _from_rollups(engine, admin, start=None, end=None, *, only=None) -> dict:
    with engine.connect() as conn:
        _as_person(conn, admin)
        rows = conn.execute(latency_counts(start, end, only=only)).all()
    return {(r.api_model_id, r.bucket): r.jobs for r in rows}


def _assert_exact(engine, admin, models) -> None:
    for start, end in RANGES:
        assert _from_rollups(engine, admin, start, end) == _from_jobs(engine, start, end), (start, end)
    kept = [str(models[0]), str(models[2])]
    ours = _from_rollups(engine, admin, NOW - timedelta(days=7), None, only=kept)
    assert ours == {k: v for k, v in _from_jobs(engine, NOW - timedelta(days=7)).items() if k[0] in kept}


def _pending_in(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(f"select count(*) from dashboard.{table} where duration_bucket is not null")
        ).scalar()


def _random_writes(engine, models, rng: random.Random, count: int) -> None:
    """Inserts (one and in bulk, some already completed), status changes to and from completed, completed_at set
    later or cleared, model moves, re-dating and deletes."""
    with engine.begin() as conn:
        for _ in range(count):
            op = rng.random()
            ids = conn.execute(sa.text("select id from jobs order by random() limit 3")).scalars().all()
            created = NOW - timedelta(seconds=rng.randrange(0, 3600 * 24 * 12))
            if op < 0.3 or not ids:
                status = rng.choice(STATUSES)
                took = timedelta(seconds=round(rng.lognormvariate(3, 2), 6))
                conn.execute(
                    sa.text(
                        "insert into jobs (api_model_id, status, created_at, completed_at) values (:m, :s, :c, :d)"
                    ),
                    {"m": rng.choice([*models, None]), "s": status, "c": created, "d": created + took},
                )
            elif op < 0.4:  # a bulk insert: past 16 rows, one delta per group
                conn.execute(
                    sa.text("""
                        insert into jobs (api_model_id, status, created_at, completed_at)
                        select (array[:m0, :m1, :m2])[1 + i % 3],
                               case when i % 4 = 0 then 'failed' else 'completed' end,
                               :c - make_interval(mins => i % 90),
                               :c - make_interval(mins => i % 90) + make_interval(secs => (i * 7.3) % 500)
                        from generate_series(1, :n) i
                    """),
                    {"m0": models[0], "m1": models[1], "m2": models[2], "c": created, "n": rng.choice([17, 40])},
                )
            elif op < 0.55:  # a worker completes jobs now, setting completed_at in the same statement
                conn.execute(
                    sa.text(
                        "update jobs set status = 'completed', "
                        "completed_at = created_at + make_interval(secs => :s) where id = any(:ids)"
                    ),
                    {"s": round(rng.uniform(0.01, 9000), 6), "ids": ids},
                )
            elif op < 0.65:  # status first, completed_at in a later statement
                conn.execute(sa.text("update jobs set status = 'completed' where id = :id"), {"id": ids[0]})
                conn.execute(
                    sa.text("update jobs set completed_at = created_at + interval '42 seconds' where id = :id"),
                    {"id": ids[0]},
                )
            elif op < 0.72:  # from completed back to processing (a retry), or completed_at cleared
                conn.execute(
                    sa.text("update jobs set status = :s where id = any(:ids)"), {"s": "processing", "ids": ids}
                )
                conn.execute(sa.text("update jobs set completed_at = null where id = :id"), {"id": ids[-1]})
            elif op < 0.8:
                conn.execute(
                    sa.text("update jobs set api_model_id = :m where id = :id"),
                    {"m": rng.choice([*models, None]), "id": ids[0]},
                )
            elif op < 0.86:
                conn.execute(
                    sa.text("update jobs set created_at = created_at - interval '3 days 7 hours' where id = :id"),
                    {"id": ids[0]},
                )
            elif op < 0.9:
                conn.execute(sa.text("update jobs set quality_rating = 5 where id = :id"), {"id": ids[0]})
            elif op < 0.95:
                conn.execute(sa.text("delete from jobs where id = any(:ids)"), {"ids": ids[:2]})
            else:  # a bulk delete, grouped too
                conn.execute(sa.text("delete from jobs where id in (select id from jobs order by random() limit 20)"))


# ─── Exact at every moment ────────────────────────────────────────────────────────────────────────
def test_latency_counts_equal_jobs_through_writes_and_folds_with_deltas_pending_in_both_tables(engine, catalogue):
    models, admin = catalogue
    rng = random.Random(17)
    service = UsageService(engine, user_id=admin)
    _assert_exact(engine, admin, models)  # nothing yet
    for round_ in range(4):
        _random_writes(engine, models, rng, 40)
        _assert_exact(engine, admin, models)  # before a fold: the deltas alone
        with engine.begin() as conn:  # one fold: the table writers left is folded, the one they used stays pending
            conn.execute(sa.text("select dashboard.fold_job_usage()"))
        _random_writes(engine, models, rng, 20)
        if round_ == 1:
            assert all(_pending_in(engine, table) for table in DELTA_TABLES), "deltas pending in both tables"
        _assert_exact(engine, admin, models)
        if round_ % 2:
            service.fold()
            assert sum(_pending_in(engine, table) for table in DELTA_TABLES) == 0
            _assert_exact(engine, admin, models)  # the rollups alone


def test_completed_at_set_in_a_later_statement_is_counted_and_moves_with_it(engine, catalogue):
    models, admin = catalogue
    created = NOW - timedelta(hours=2)
    with engine.begin() as conn:
        job = conn.execute(
            sa.text("insert into jobs (api_model_id, status, created_at) values (:m, 'processing', :c) returning id"),
            {"m": models[0], "c": created},
        ).scalar_one()
        conn.execute(sa.text("update jobs set status = 'completed' where id = :id"), {"id": job})
    assert _from_rollups(engine, admin) == {}  # completed, no duration yet
    with engine.begin() as conn:
        conn.execute(
            sa.text("update jobs set completed_at = :d where id = :id"),
            {"d": created + timedelta(seconds=3), "id": job},
        )
    assert _from_rollups(engine, admin) == {(str(models[0]), bucket_of(3)): 1}
    UsageService(engine, user_id=admin).fold()
    with engine.begin() as conn:  # corrected later: the job moves to its new bucket
        conn.execute(
            sa.text("update jobs set completed_at = :d where id = :id"),
            {"d": created + timedelta(minutes=9), "id": job},
        )
    assert _from_rollups(engine, admin) == {(str(models[0]), bucket_of(540)): 1}
    _assert_exact(engine, admin, models)


def test_a_bulk_insert_of_completed_jobs_is_grouped_per_bucket_and_counted(engine, catalogue):
    models, admin = catalogue
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
                insert into jobs (api_model_id, status, created_at, completed_at)
                select :m, 'completed', :c, :c + make_interval(secs => 1 + i % 3) from generate_series(1, 300) i
            """),
            {"m": models[1], "c": NOW - timedelta(hours=1)},
        )
        deltas = conn.execute(
            sa.text(
                "select count(*) from (select * from dashboard.job_usage_delta union all "
                "select * from dashboard.job_usage_delta_1) d"
            )
        ).scalar()
    assert deltas == 3  # one per duration bucket (1, 2 and 3 s), not one per job
    assert _from_rollups(engine, admin) == {(str(models[1]), bucket_of(s)): 100 for s in (1, 2, 3)}
    _assert_exact(engine, admin, models)


# ─── Hostile rows ─────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("bulk", [False, True])
def test_hostile_times_never_fail_a_write_and_fall_in_the_first_or_the_open_bucket(engine, catalogue, bulk):
    models, admin = catalogue
    created = NOW - timedelta(days=1)
    hostile = [
        ("completed", "2026-11-22 14:59:59+00"),  # completed before it was created: clock skew
        ("completed", None),  # completed, no completed_at
        ("completed", "9999-12-31 23:59:59+00"),  # the year 9999
        ("completed", "infinity"),
        ("completed", "-infinity"),
        ("completed", "2026-11-22 15:00:00+00"),  # took no time at all
        ("failed", "2026-11-22 15:00:01+00"),  # failed: no duration counted
        ("completed", "294276-12-31 23:59:59+00"),  # the largest timestamptz there is
    ]
    rows = hostile * (3 if bulk else 1)  # past 16 rows: the grouped path
    with engine.begin() as conn:
        if bulk:
            conn.execute(
                sa.text("""
                    insert into jobs (api_model_id, status, created_at, completed_at)
                    select :m, s, :c, d::timestamptz from unnest(cast(:s as text[]), cast(:d as text[])) as t(s, d)
                """),
                {"m": models[2], "c": created, "s": [r[0] for r in rows], "d": [r[1] for r in rows]},
            )
        else:
            for status, done in rows:
                conn.execute(
                    sa.text(
                        "insert into jobs (api_model_id, status, created_at, completed_at) "
                        "values (:m, :s, :c, cast(:d as timestamptz))"
                    ),
                    {"m": models[2], "s": status, "c": created, "d": done},
                )
        # and a job created at -infinity, moved around
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at, completed_at) "
                "values (:m, 'completed', '-infinity', :d)"
            ),
            {"m": models[0], "d": NOW},
        )
        conn.execute(sa.text("update jobs set api_model_id = :m where created_at = '-infinity'"), {"m": models[1]})
    factor = 3 if bulk else 1
    expected = {(str(models[2]), 0): 3 * factor, (str(models[2]), OPEN_BUCKET): 3 * factor}
    assert _from_rollups(engine, admin, NOW - timedelta(days=2)) == expected
    assert _from_rollups(engine, admin)[(str(models[1]), OPEN_BUCKET)] == 1
    _assert_exact(engine, admin, models)
    UsageService(engine, user_id=admin).fold()
    _assert_exact(engine, admin, models)
    with engine.begin() as conn:
        conn.execute(sa.text("delete from jobs where api_model_id = :m"), {"m": models[2]})
    assert _from_rollups(engine, admin, only=[str(models[2])]) == {}


def test_bucket_of_equals_the_sql_rule_on_every_edge_and_around_it(engine):
    created = datetime(2026, 1, 1, tzinfo=UTC)
    micros = [-(10**12), -1, 0, 1, 62_499, 62_500, 62_501]
    micros += [round(e * 1_000_000) + d for e in EDGES for d in (-1, 0, 1)]
    rng = random.Random(3)
    micros += [rng.randrange(0, 400_000 * 1_000_000) for _ in range(300)] + [10**16]
    with engine.connect() as conn:
        in_sql = (
            conn.execute(
                sa.text(
                    "select dashboard.latency_bucket(:c + make_interval(secs => m / 1e6), :c) "
                    "from unnest(cast(:m as bigint[])) with ordinality as t(m, n) order by n"
                ),
                {"c": created, "m": micros},
            )
            .scalars()
            .all()
        )
    assert in_sql == [bucket_of(m / 1_000_000) for m in micros]


# ─── Percentiles ─────────────────────────────────────────────────────────────────────────────────
def test_p50_and_p95_from_the_rollups_are_the_bucket_of_percentile_disc_over_jobs(engine, catalogue):
    models, admin = catalogue
    rng = random.Random(5)
    _random_writes(engine, models, rng, 120)
    UsageService(engine, user_id=admin).fold()
    _random_writes(engine, models, rng, 30)
    start = NOW - timedelta(days=7)
    counts: dict[str, dict[int, int]] = {}
    for (model, bucket), jobs in _from_rollups(engine, admin, start, NOW).items():
        counts.setdefault(model, {})[bucket] = jobs
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"""
                select model, percentile_disc(0.5) within group (order by seconds),
                       percentile_disc(0.95) within group (order by seconds)
                from ({_DURATIONS.text}) d group by model
            """),
            {"start": start, "end": NOW},
        ).all()
    assert rows and {r.model for r in rows} == set(counts)
    for model, p50, p95 in rows:
        for q, value in ((0.5, p50), (0.95, p95)):
            edge = upper_edge(bucket_of(value))
            assert percentile(counts[model], q) == (math.inf if edge is None else edge), (model, q)


# ─── Recount, truncation, who may read, the basis ─────────────────────────────────────────────────
def test_a_recount_counts_durations_from_jobs_and_a_truncation_empties_them(engine, catalogue):
    models, admin = catalogue
    _random_writes(engine, models, random.Random(8), 60)
    with engine.begin() as conn:  # a bulk load with the triggers off: only a recount sees it
        conn.execute(sa.text("alter table jobs disable trigger dashboard_job_usage_insert"))
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at, completed_at) "
                "select :m, 'completed', :c, :c + interval '5 minutes' from generate_series(1, 9)"
            ),
            {"m": models[1], "c": NOW - timedelta(days=3)},
        )
        conn.execute(sa.text("alter table jobs enable trigger dashboard_job_usage_insert"))
        conn.execute(sa.text("select dashboard.rebuild_job_usage()"))
    _assert_exact(engine, admin, models)
    with engine.begin() as conn:
        conn.execute(sa.text("truncate jobs"))
    with engine.connect() as conn:
        for table in ("job_latency_hourly", "job_latency_daily"):
            assert conn.execute(sa.text(f"select count(*) from dashboard.{table}")).scalar_one() == 0
    assert _from_rollups(engine, admin) == {}


def test_only_admins_and_the_service_role_read_durations(engine, catalogue):
    models, admin = catalogue
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at, completed_at) values (:m, 'completed', :c, :c)"
            ),
            {"m": models[0], "c": NOW},
        )
    UsageService(engine, user_id=admin).fold()
    viewer = make_user(engine)
    assert _from_rollups(engine, viewer) == {}
    assert _from_rollups(engine, admin) == {(str(models[0]), 0): 1}
    with engine.connect() as conn:
        conn.execute(sa.text("set local role service_role"))
        assert conn.execute(latency_counts(None, None)).all() != []
        assert conn.execute(latency.LATENCY_BASIS).scalar_one() == "completed_at"
        conn.rollback()
        conn.execute(sa.text("set local role anon"))
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(sa.text("select 1 from dashboard.job_latency_daily"))


@pytest.fixture(params=[s for s in SHAPES if s.name in ("supabase-today", "no-rating-two-defaults")], ids=str)
def live(request, fresh_database):
    superuser = create_db_engine(fresh_database)
    build(superuser, request.param)
    owner = create_db_engine(owner_url(fresh_database))
    yield superuser, owner, request.param
    owner.dispose()
    superuser.dispose()


def test_on_a_live_jobs_table_durations_come_from_completed_at_or_from_the_status_change(live):
    superuser, owner, shape = live
    no_completed_at = "no-rating" in shape.name
    statuses = ("running", "completed") if no_completed_at else ("processing", "completed")
    with superuser.begin() as conn:
        model = conn.execute(sa.text("select id from api_models where model_key = 'live/sdxl'")).scalar_one()
        conn.execute(  # already there before the dashboard: counted by the recount after migrating, if it can be
            sa.text("insert into jobs (api_model_id, status, created_at) values (:m, 'completed', now())"),
            {"m": model},
        )
    migrate(owner)
    with superuser.begin() as conn:
        basis = conn.execute(latency.LATENCY_BASIS).scalar_one()
        # created ten minutes ago (the shape without completed_at keeps created_at without time zone, read as UTC)
        created = (
            "timezone('UTC', now()) - interval '10 minutes'" if no_completed_at else "now() - interval '10 minutes'"
        )
        job = conn.execute(
            sa.text(f"insert into jobs (api_model_id, status, created_at) values (:m, :s, {created}) returning id"),
            {"m": model, "s": statuses[0]},
        ).scalar_one()
        if no_completed_at:
            conn.execute(sa.text("update jobs set status = 'completed' where id = :id"), {"id": job})
            conn.execute(sa.text("update jobs set status = 'completed' where id = :id"), {"id": job})  # no change
        else:
            conn.execute(
                sa.text(
                    "update jobs set status = 'completed', completed_at = created_at + interval '10 minutes' "
                    "where id = :id"
                ),
                {"id": job},
            )
        rows = {(r.api_model_id, r.bucket): r.jobs for r in conn.execute(latency_counts(None, None))}
    assert basis == ("status_change" if no_completed_at else "completed_at")
    if no_completed_at:  # ten minutes and the moments the test took: that bucket or the next
        assert set(rows.values()) == {1} and len(rows) == 1
        ((_, bucket),) = rows
        assert bucket in (bucket_of(600), bucket_of(600) + 1)
    else:  # the job that was there before is counted too (completed_at null: no duration)
        assert rows == {(str(model), bucket_of(600)): 1}
    with superuser.begin() as conn:  # a recount keeps what was logged (there is nothing to count it from)
        conn.execute(sa.text("select dashboard.rebuild_job_usage()"))
        assert {(r.api_model_id, r.bucket): r.jobs for r in conn.execute(latency_counts(None, None))} == rows


# ─── The migration ───────────────────────────────────────────────────────────────────────────────
def test_migrating_counts_the_durations_of_the_jobs_already_there_and_twice_changes_nothing(fresh_database):
    engine = create_db_engine(fresh_database)
    try:
        migrate(engine, [m for m in load_migrations() if m.version < "0017"])
        provider = make_provider(engine)
        models = [make_model(engine, provider, display_name=f"M{i}") for i in range(3)]
        admin = make_user(engine, "admin")
        rng = random.Random(12)
        _random_writes(engine, models, rng, 60)
        UsageService(engine, user_id=admin).fold()
        _random_writes(engine, models, rng, 20)  # left as deltas of the old shape
        assert migrate(engine)[0] == "0017"  # and every later migration
        _assert_exact(engine, admin, models)
        _random_writes(engine, models, rng, 30)
        UsageService(engine, user_id=admin).fold()
        _assert_exact(engine, admin, models)
        assert migrate(engine) == []
    finally:
        engine.dispose()
