"""HealthService.report against SQL over the jobs table itself: every figure of every model, exactly, with deltas
pending and after a fold; window edges, stuck jobs of every age, slow completions, ratings, and hostile rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE
from dashboard.queries import latency as lq
from dashboard.services.errors import InvalidRange, NotAllowed
from dashboard.services.health import HealthService
from dashboard.services.health_rules import HealthThresholds
from dashboard.services.usage import UsageService, failure_rate
from tests import hostile
from tests.factories import make_model, make_provider, make_user

NOW = datetime(2026, 11, 23, 10, 20, tzinfo=UTC)
WINDOW_START = datetime(2026, 11, 23, 9, tzinfo=UTC)  # "1h": since the start of the previous hour
BASELINE_END = datetime(2026, 11, 23, tzinfo=UTC)  # the baseline: the 7 whole UTC days before the window's day
STUCK_BEFORE = datetime(2026, 11, 23, 10, tzinfo=UTC)  # 10:20 - 15 min = 10:05: jobs of hours ended by then


def _jobs(engine, model, count, status, created, *, seconds=None, rating=None, step=timedelta(0)) -> None:
    """count jobs in one statement (more than 16 make grouped deltas), created at created + i * step."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at, completed_at, quality_rating) "
                "select cast(:model as uuid), :status, cast(:created as timestamptz) + i * cast(:step as interval), "
                "cast(:created as timestamptz) + i * cast(:step as interval) "
                "+ make_interval(secs => cast(:seconds as float8)), "
                "cast(:rating as smallint) from generate_series(0, cast(:count as int) - 1) i"
            ),
            {
                "model": model,
                "status": status,
                "created": created,
                "step": step,
                "seconds": seconds,
                "rating": rating,
                "count": count,
            },
        )


@pytest.fixture
def scene(engine):
    """Two routed slots and their figures: SDXL failing, Whisper slow and rated down, stuck jobs of every age."""
    provider = make_provider(engine)
    sdxl = make_model(engine, provider, display_name="SDXL 1.0", priority=1, is_default=True)
    flux = make_model(engine, provider, display_name="Flux 1.1 Pro", priority=2)
    whisper = make_model(engine, provider, display_name="Whisper", modality="audio", task="transcription")
    spare = make_model(engine, provider, display_name="Spare", modality="audio", task="transcription", priority=5)
    day = timedelta(days=1)
    # Baselines, in bulk: SDXL fails 2%, Flux 1 of 31, Whisper takes 13 s and is rated 5.
    _jobs(engine, sdxl, 98, "completed", WINDOW_START - 3 * day, seconds=10, step=timedelta(minutes=7))
    _jobs(engine, sdxl, 2, "failed", WINDOW_START - 2 * day)
    _jobs(engine, flux, 30, "completed", WINDOW_START - 6 * day, seconds=5)
    _jobs(engine, flux, 1, "failed", BASELINE_END - timedelta(microseconds=1))  # the baseline's last moment
    _jobs(engine, whisper, 25, "completed", WINDOW_START - day, seconds=13, rating=5)
    # The window: SDXL fails 40% (20 of 50), Whisper takes 41 s and is rated 2.
    _jobs(engine, sdxl, 30, "completed", WINDOW_START, seconds=12, step=timedelta(minutes=2))  # the first at 09:00
    _jobs(engine, sdxl, 20, "failed", WINDOW_START + timedelta(minutes=5))
    _jobs(engine, whisper, 25, "completed", WINDOW_START + timedelta(minutes=30), seconds=41, rating=2)
    # Stuck: hours that ended by 10:05 count; 10:00's does not yet.
    _jobs(engine, sdxl, 3, "processing", datetime(2026, 11, 23, 8, 10, tzinfo=UTC))
    _jobs(engine, sdxl, 2, "processing", datetime(2026, 11, 23, 9, 59, 59, tzinfo=UTC))
    _jobs(engine, sdxl, 4, "processing", datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    _jobs(engine, sdxl, 1, "queued", datetime(2026, 11, 20, 3, 30, tzinfo=UTC))
    _jobs(engine, spare, 1, "queued", datetime(2025, 1, 1, 0, 0, tzinfo=UTC))  # a year-old zombie
    return {"sdxl": sdxl, "flux": flux, "whisper": whisper, "spare": spare, "admin": make_user(engine, "admin")}


# ─── The oracle: the same figures from jobs, one by one ───────────────────────────────────────────
def _expected(engine, model_id, *, start, end, baseline_start, baseline_end, stuck_before) -> dict:
    with engine.connect() as conn:

        def counts(first, last):
            return conn.execute(
                sa.text(
                    "select count(*), count(*) filter (where status::text = 'completed'), "
                    "count(*) filter (where status::text = 'failed'), count(quality_rating), avg(quality_rating) "
                    "from jobs where api_model_id = :m and created_at >= :a and created_at < :b"
                ),
                {"m": model_id, "a": first, "b": last},
            ).one()

        def durations(first, last):
            rows = conn.execute(
                sa.text(
                    "select extract(epoch from completed_at - created_at) from jobs where api_model_id = :m "
                    "and status::text = 'completed' and completed_at is not null and created_at >= :a "
                    "and created_at < :b"
                ),
                {"m": model_id, "a": first, "b": last},
            ).scalars()
            buckets: dict[int, int] = {}
            for seconds in rows:
                buckets[lq.bucket_of(float(seconds))] = buckets.get(lq.bucket_of(float(seconds)), 0) + 1
            return buckets

        stuck = conn.execute(
            sa.text(
                "select count(*) filter (where status::text = 'queued'), "
                "count(*) filter (where status::text = 'processing'), "
                "date_trunc('hour', min(created_at), 'UTC') from jobs where api_model_id = :m "
                "and status::text in ('queued', 'processing') and created_at < :before"
            ),
            {"m": model_id, "before": stuck_before},
        ).one()
        window, baseline = counts(start, end), counts(baseline_start, baseline_end)
        timed, baseline_timed = durations(start, end), durations(baseline_start, baseline_end)
    return {
        "jobs": window[0],
        "completed": window[1],
        "failed": window[2],
        "failure_rate": failure_rate(window[2], window[1]),
        "rated": window[3],
        "avg_rating": None if window[4] is None else pytest.approx(float(window[4])),
        "baseline_jobs": baseline[0],
        "baseline_failure_rate": failure_rate(baseline[2], baseline[1]),
        "baseline_finished": baseline[1] + baseline[2],
        "baseline_rated": baseline[3],
        "baseline_avg_rating": None if baseline[4] is None else pytest.approx(float(baseline[4])),
        "p50_seconds": lq.percentile(timed, 0.5),
        "p95_seconds": lq.percentile(timed, 0.95),
        "baseline_p95_seconds": lq.percentile(baseline_timed, 0.95),
        "timed": sum(timed.values()),
        "baseline_timed": sum(baseline_timed.values()),
        "stuck_queued": stuck[0],
        "stuck_processing": stuck[1],
        "stuck_jobs": stuck[0] + stuck[1],
        "stuck_oldest_from": stuck[2],
    }


def _assert_exact(engine, report) -> None:
    """Every model's every figure, its baseline's included, as SQL over jobs gives it."""
    for model in report.models:
        expected = _expected(
            engine,
            model.model_id,
            start=report.start,
            end=report.end,
            baseline_start=report.baseline_start,
            baseline_end=report.baseline_end,
            stuck_before=report.stuck_before,
        )
        got = {key: getattr(model, key) for key in expected}
        assert got == expected, model.model


def _report(engine, user=SERVICE_ROLE, **kwargs):
    return HealthService(engine, user_id=user).report(now=NOW, **kwargs)


# ─── Findings and figures ─────────────────────────────────────────────────────────────────────────
def test_the_report_finds_the_failing_pick_the_stuck_jobs_the_slow_and_the_rated_down(engine, scene):
    report = _report(engine, user=scene["admin"])
    assert (report.start, report.end, report.stuck_before) == (
        WINDOW_START,
        NOW.replace(minute=0) + timedelta(hours=1),
        STUCK_BEFORE,
    )
    assert (report.baseline_start, report.baseline_end) == (BASELINE_END - timedelta(days=7), BASELINE_END)
    assert [f.message for f in report.findings] == [
        "image/generation routes to SDXL 1.0, failing 40% in the last hour (baseline 2%); "
        "next in line Flux 1.1 Pro fails 3%",
        "6 jobs stuck on SDXL 1.0 (5 processing, 1 queued), oldest created 2026-11-20 03:00-04:00 UTC",
        "p95 latency of Whisper 3.4x its baseline (45 s against 13 s)",  # bucket edges: 45.25 s and 13.45 s
        "average rating of Whisper fell to 2.0 from 5.0 (25 rated jobs in the last hour, 25 in the 7 days before)",
        "1 job stuck in the queue on Spare, oldest created 2025-01-01 00:00-01:00 UTC",
    ]
    assert report.needs_attention and report.latency_basis == "completed_at"
    _assert_exact(engine, report)
    by_name = {m.model: m for m in report.models}
    assert set(by_name) == {"SDXL 1.0", "Whisper", "Spare"}  # the picks, and what has jobs now or stuck
    assert by_name["SDXL 1.0"].next_failure_rate == pytest.approx(1 / 31)
    assert by_name["Whisper"].next_model == "Spare" and by_name["Whisper"].next_failure_rate is None


def test_figures_are_exact_with_deltas_pending_and_after_a_fold(engine, scene):
    pending = _report(engine)
    assert UsageService(engine, user_id=SERVICE_ROLE).fold() > 0
    folded = _report(engine)
    assert folded == pending
    _assert_exact(engine, folded)
    # Later writes stay pending on top of the fold: a stuck job completes, a new one fails.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "update jobs set status = 'completed', completed_at = created_at + interval '2 hours' "
                "where status = 'queued' and api_model_id = :m"
            ),
            {"m": scene["sdxl"]},
        )
    _jobs(engine, scene["flux"], 1, "failed", WINDOW_START + timedelta(minutes=50))
    later = _report(engine)
    _assert_exact(engine, later)
    sdxl = next(m for m in later.models if m.model == "SDXL 1.0")
    assert (sdxl.stuck_queued, sdxl.stuck_oldest_from) == (0, datetime(2026, 11, 23, 8, tzinfo=UTC))


def test_window_edges_are_whole_hours(engine, scene):
    # 24h: since the same hour yesterday, and the baseline the 7 whole days before that day.
    day = _report(engine, window="24h")
    assert day.start == WINDOW_START - timedelta(hours=23)
    yesterday = BASELINE_END - timedelta(days=1)
    assert (day.baseline_start, day.baseline_end) == (yesterday - timedelta(days=7), yesterday)
    _assert_exact(engine, day)
    # A job between the baseline's end (midnight) and the 1h window's start is in neither: the baseline is the
    # same all day.
    before = {m.model: m.baseline_jobs for m in _report(engine).models}
    _jobs(engine, scene["sdxl"], 3, "failed", WINDOW_START - timedelta(minutes=1))
    _jobs(engine, scene["sdxl"], 1, "failed", BASELINE_END)
    after = _report(engine)
    assert {m.model: m.baseline_jobs for m in after.models} == before
    _assert_exact(engine, after)
    hour = _report(engine)
    flux_now = [m for m in hour.models if m.model == "Flux 1.1 Pro"]
    assert flux_now == []  # no job in the window, not a pick: not listed
    sdxl = next(m for m in hour.models if m.model == "SDXL 1.0")
    assert sdxl.jobs == 50 + 2 + 4  # the window's 50, the two stuck at 09:59:59 and the four at 10:00 (not stuck)


def test_no_finding_on_too_few_jobs_and_thresholds_apply(engine, scene):
    lenient = HealthThresholds(min_jobs=60, min_rated=30, min_stuck=10)
    assert _report(engine, thresholds=lenient).findings == []
    later = _report(engine, thresholds=HealthThresholds(stuck_minutes=24 * 60 * 7))  # a week: only the zombie
    assert [f.model for f in later.findings if f.kind == "stuck"] == ["Spare"]


def test_a_healthy_catalogue_needs_no_attention(engine):
    provider = make_provider(engine)
    model = make_model(engine, provider, display_name="Steady", is_default=True)
    _jobs(engine, model, 40, "completed", WINDOW_START, seconds=3)
    _jobs(engine, model, 100, "completed", WINDOW_START - timedelta(days=2), seconds=3)
    report = _report(engine)
    assert not report.needs_attention and [m.status for m in report.models] == ["ok"]
    _assert_exact(engine, report)


def test_an_empty_catalogue_has_an_empty_report(engine):
    report = _report(engine)
    assert (report.models, report.findings) == ([], [])
    assert report.as_json()["slots"] == []


# ─── Who may read it ──────────────────────────────────────────────────────────────────────────────
def test_people_who_are_not_admins_are_refused(engine, scene):
    for user in (make_user(engine, "user"), None):
        with pytest.raises(NotAllowed):
            _report(engine, user=user)


def test_an_unknown_window_is_refused_before_any_read(engine):
    with pytest.raises(InvalidRange, match="choose one of 1h, 24h"):
        _report(engine, window="7d")


# ─── Hostile rows ─────────────────────────────────────────────────────────────────────────────────
def test_hostile_rows_are_counted_as_the_jobs_table_says(engine, scene):
    with engine.begin() as conn:  # a live table's shape: any status text, no foreign key to the catalogue
        conn.execute(sa.text("alter table public.jobs drop constraint jobs_status_check"))
        conn.execute(sa.text("alter table public.jobs drop constraint jobs_api_model_id_fkey"))
    sdxl, whisper = scene["sdxl"], scene["whisper"]
    _jobs(engine, None, 5, "failed", WINDOW_START)  # no model: counted nowhere
    _jobs(engine, sdxl, 3, "running", WINDOW_START - timedelta(hours=3))  # unknown status: a job, never stuck
    _jobs(engine, sdxl, 2, "Processing", WINDOW_START - timedelta(hours=3))
    _jobs(engine, sdxl, 4, "queued", datetime(2031, 1, 1, tzinfo=UTC))  # the future: neither in the window nor stuck
    _jobs(engine, whisper, 30, "completed", WINDOW_START, seconds=-20)  # clock skew: the shortest bucket
    _jobs(engine, whisper, 2, "completed", WINDOW_START, seconds=10**9)  # absurd: the open bucket
    gone = make_model(engine, display_name=hostile.BLOCKS, modality="video", task=hostile.HTML)
    _jobs(engine, gone, 2, "processing", datetime(2026, 11, 22, 5, tzinfo=UTC))
    with engine.begin() as conn:
        conn.execute(sa.text("delete from api_models where id = :m"), {"m": gone})
    odd = make_model(engine, display_name=f"{hostile.LINK}\n{hostile.SCRIPT}", modality="text", task=hostile.EMOJI)
    _jobs(engine, odd, 30, "failed", WINDOW_START + timedelta(minutes=1))
    report = _report(engine)
    _assert_exact(engine, report)
    names = {m.model for m in report.models}
    assert f"model {gone} (no longer in the catalogue)" in names
    assert f"{hostile.LINK}\n{hostile.SCRIPT}" in names
    assert any(f.message.startswith(f"{hostile.EMOJI}") or hostile.LINK in f.message for f in report.findings)
    whisper_row = next(m for m in report.models if m.model == "Whisper")
    assert whisper_row.p50_seconds == lq.EDGES[0]
    assert report.as_json()["slots"]  # JSON values throughout (an infinite p95 would not be)


def test_an_open_bucket_p95_is_null_in_json(engine):
    model = make_model(engine, display_name="Slowpoke", is_default=True)
    _jobs(engine, model, 25, "completed", WINDOW_START, seconds=10**9)
    report = _report(engine)
    [row] = report.as_json()["slots"]
    assert row["p95_seconds"] is None and report.models[0].p95_seconds == float("inf")


def test_a_report_in_detail_keeps_every_finding_and_pick_and_the_busiest_others(engine, scene):
    """detail=N: the same findings; every pick, every model that could have a finding and the N busiest others,
    each with the figures the full report has; the rest counted in left_out."""
    provider = make_provider(engine)
    quiet = [  # models that take no jobs by routing, with 1-4 jobs in the window each: none can have a finding
        make_model(engine, provider, display_name=f"{hostile.HTML} {n}", modality="video", task="t2v", priority=n)
        for n in range(1, 9)
    ]
    for n, model in enumerate(quiet[1:], start=1):  # the pick (priority 1) has none; 7 others have n % 4 + 1 each
        _jobs(engine, model, n % 4 + 1, "completed", WINDOW_START + timedelta(minutes=n), seconds=3)
        _jobs(engine, model, 30, "completed", BASELINE_END - timedelta(days=2), seconds=2)  # a history of their own
    full = _report(engine)
    assert full.left_out == 0
    _assert_exact(engine, full)  # quiet models' baselines included: read, not shown as zero
    assert all(m.baseline_jobs == 30 and m.baseline_p95_seconds for m in full.models if m.task == "t2v" and m.jobs)
    by_id = {m.model_id: m for m in full.models}
    for detail in (0, 2, 100):
        report = _report(engine, detail=detail)
        assert [f.message for f in report.findings] == [f.message for f in full.findings]
        assert all(by_id[m.model_id] == m for m in report.models)  # the same figures, model by model
        kept = {m.model for m in report.models}
        assert {"SDXL 1.0", "Whisper", "Spare", f"{hostile.HTML} 1"} <= kept  # findings, and each slot's pick
        others = sorted(
            (m for m in full.models if m.model_id not in {str(q) for q in quiet[:1]} and m.task == "t2v"),
            key=lambda m: (-m.jobs, m.model_id),
        )
        assert kept - {"SDXL 1.0", "Whisper", "Spare", f"{hostile.HTML} 1"} == {m.model for m in others[:detail]}
        assert report.left_out == len(others) - min(detail, len(others))
        assert len(report.models) + report.left_out == len(full.models)
        assert report.as_json()["left_out"] == report.left_out


def test_the_picks_read_alone_are_the_slots_picks_in_every_shape(engine):
    """CatalogueService.routed_picks() (active rows only) says what list_slots() says of each slot's pick and next
    in line: an inactive default, a model of an inactive provider first by priority, ties broken by names the
    database orders by its collation, hostile names, a slot with one candidate and one with none."""
    from dashboard.services.catalogue import CatalogueService, slot_picks

    on, off = make_provider(engine), make_provider(engine, is_active=False)
    make_model(engine, on, modality="image", task="a", display_name="Default off", is_default=True, is_active=False)
    make_model(engine, off, modality="image", task="a", display_name="Provider off", priority=0)
    for name in ("b", "B", "_b", hostile.HTML, hostile.SCRIPT, "ä"):  # one priority: the names decide
        make_model(engine, on, modality="image", task="a", display_name=name, priority=3)
    make_model(engine, on, modality="image", task="one", display_name="Alone")
    make_model(engine, on, modality="image", task="none", display_name="Off", is_active=False)
    make_model(engine, off, modality="image", task="none", display_name="Off provider")
    admin = make_user(engine, "admin")
    for user in (admin, SERVICE_ROLE):
        service = CatalogueService(engine, user_id=user)
        picks = service.routed_picks()
        assert picks == slot_picks(service.list_slots())
        assert len(picks) == 2 and list(picks.values()).count(None) == 1  # "a" has a next in line, "one" none
