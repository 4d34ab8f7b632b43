"""Health's copies of past hours and days kept between reports (services/usage_spans.py, migration 0020): a report
served from them is the report read afresh, through late changes, folds, recounts and hand edits of the rollups, and
only what changed is read again."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE, acting_as
from dashboard.queries import usage as q
from dashboard.services import usage_spans
from dashboard.services.usage import UsageService
from tests.factories import make_user
from tests.integration import test_health
from tests.integration.test_health import BASELINE_END, NOW, WINDOW_START, _assert_exact, _jobs, _report

scene = test_health.scene  # the fixture: two routed slots, their figures and stuck jobs of every age

WINDOWS = ("1h", "24h")


@pytest.fixture(autouse=True)
def no_copies():
    usage_spans.forget()
    yield
    usage_spans.forget()


def _fold(engine) -> None:
    UsageService(engine, user_id=SERVICE_ROLE).fold()


def _kept() -> dict:
    """(grain, period start) -> the copy kept, of the one database these tests read."""
    [store] = usage_spans._STORES.values()
    return dict(store.pieces)


def _read_again(before: dict) -> set:
    """The periods whose copy is not the one kept before."""
    return {period for period, copy in _kept().items() if before.get(period) is not copy}


def _afresh(engine, **kwargs):
    usage_spans.forget()
    return _report(engine, **kwargs)


def test_reports_from_kept_copies_are_exact_through_late_changes_and_folds(engine, scene):
    _fold(engine)
    for window in WINDOWS:
        _assert_exact(engine, _report(engine, window=window))
    sdxl, flux, whisper = scene["sdxl"], scene["flux"], scene["whisper"]
    late_changes = [
        # A job of a past hour of the window fails late.
        ("update jobs set status = 'failed' where api_model_id = :m and created_at = :at", sdxl, WINDOW_START),
        # A baseline job is deleted (a sweep), another moves to another model.
        (
            "delete from jobs where api_model_id = :m and created_at = :at",
            flux,
            BASELINE_END - timedelta(microseconds=1),
        ),
        (
            "update jobs set api_model_id = :m where id = (select id from jobs where created_at < :at "
            "and status = 'completed' order by created_at limit 1)",
            whisper,
            WINDOW_START - timedelta(days=2),
        ),
    ]
    for statement, model, at in late_changes:
        with engine.begin() as conn:
            assert conn.execute(sa.text(statement), {"m": model, "at": at}).rowcount == 1
        for window in WINDOWS:  # pending: the kept copies plus the deltas
            _assert_exact(engine, _report(engine, window=window))
        _fold(engine)
        for window in WINDOWS:  # folded: the changed hours read again
            _assert_exact(engine, _report(engine, window=window))
    _jobs(engine, whisper, 21, "completed", WINDOW_START - timedelta(days=3), seconds=300)  # backdated, in bulk
    _fold(engine)
    for window in WINDOWS:
        report = _report(engine, window=window)
        _assert_exact(engine, report)
        assert report == _afresh(engine, window=window)


def test_only_the_hours_and_days_a_fold_changed_are_read_again(engine, scene):
    _fold(engine)
    _report(engine, window="24h")
    first = _kept()
    assert ("hour", WINDOW_START) in first and ("day", BASELINE_END - timedelta(days=3)) in first
    _report(engine, window="24h")
    assert _read_again(first) == set()  # nothing changed: nothing read again

    with engine.begin() as conn:  # a late failure in the window's 09:00, a late completion on a baseline day
        conn.execute(sa.text("update jobs set status = 'failed' where created_at = :at"), {"at": WINDOW_START})
        conn.execute(
            sa.text(
                "update jobs set status = 'completed', completed_at = now() where status = 'queued' "
                "and created_at = :at"
            ),
            {"at": BASELINE_END - timedelta(days=3) + timedelta(hours=3, minutes=30)},
        )
    _report(engine, window="24h")
    assert _read_again(first) == set()  # pending: read with the deltas, the copies still true
    _fold(engine)
    before = _kept()
    _assert_exact(engine, _report(engine, window="24h"))
    assert _read_again(before) == {("hour", WINDOW_START), ("day", BASELINE_END - timedelta(days=3))}


def test_a_recount_and_a_hand_edit_of_the_rollups_replace_every_copy(engine, scene):
    _fold(engine)
    _report(engine, window="24h")
    before = _kept()
    with engine.begin() as conn:
        conn.execute(sa.text("select dashboard.recount_job_usage()"))
    report = _report(engine, window="24h")
    _assert_exact(engine, report)
    assert _read_again(before) == set(before)

    before = _kept()
    with engine.begin() as conn:  # someone edits a rollup by hand: the report shows what the rollups now say
        edited = conn.execute(
            sa.text("update dashboard.job_latency_daily set jobs = jobs + 7 where api_model_id = :m"),
            {"m": scene["whisper"]},
        ).rowcount
    assert edited
    report = _report(engine, window="24h")
    assert _read_again(before) == set(before)
    assert report == _afresh(engine, window="24h")


def test_a_report_after_a_fold_racing_it_is_exact(engine, scene):
    """The versions and the rows are read in one snapshot: a fold that commits between a report's reads changes
    neither what it reads nor what it keeps."""
    _fold(engine)
    _report(engine, window="24h")
    with engine.begin() as conn:
        conn.execute(sa.text("update jobs set status = 'failed' where created_at = :at"), {"at": WINDOW_START})
    with acting_as(engine, SERVICE_ROLE, snapshot=True) as conn:
        conn.execute(q.changes(WINDOW_START, NOW)).all()  # the snapshot is taken
        _fold(engine)  # commits outside it
        versions_then = conn.execute(q.changes(WINDOW_START - timedelta(days=9), NOW)).all()
    with acting_as(engine, SERVICE_ROLE) as conn:
        versions_now = conn.execute(q.changes(WINDOW_START - timedelta(days=9), NOW)).all()
    assert versions_then != versions_now  # the fold noted 09:00, after the snapshot
    _assert_exact(engine, _report(engine, window="24h"))


def test_reports_racing_folds_of_late_changes_are_exact(engine, scene):
    """A fold truncates the deltas it folded; a report's snapshot from before it would see them in neither the deltas
    nor the rollups. The report locks the delta tables before its snapshot: every report is the jobs."""
    _fold(engine)
    _report(engine, window="24h")
    stop = threading.Event()

    def fold() -> None:
        while not stop.is_set():
            _fold(engine)

    folding = threading.Thread(target=fold)
    folding.start()
    try:
        for status in ("failed", "completed", "failed", "completed"):  # late changes, folded while reports read
            with engine.begin() as conn:
                conn.execute(
                    sa.text("update jobs set status = :s where created_at = :at"), {"s": status, "at": WINDOW_START}
                )
            for window in WINDOWS:
                _assert_exact(engine, _report(engine, window=window))
    finally:
        stop.set()
        folding.join(timeout=60)


def test_the_versions_are_for_admins_and_the_service_role_only(engine, scene):
    _fold(engine)
    for user, rows in ((scene["admin"], True), (SERVICE_ROLE, True), (make_user(engine, "user"), False)):
        with acting_as(engine, user) as conn:
            assert bool(conn.execute(q.changes(WINDOW_START - timedelta(days=9), NOW)).all()) is rows
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), acting_as(engine, None) as conn:
        conn.execute(q.changes(WINDOW_START, NOW)).all()


def test_a_first_report_reads_what_it_shows_while_a_background_read_keeps_the_rest(engine, scene, monkeypatch):
    """A process's first report does not wait for every past hour and day of every model: it reads in full what it
    shows (as a report without copies does), a thread reads the copies, and reports after it use them. Both ways
    give the same report, in every detail."""
    _fold(engine)
    for detail in (None, 0, 2):
        monkeypatch.setattr(usage_spans, "READ_NOW_MAX", 3)
        usage_spans.forget()
        first = _report(engine, window="24h", detail=detail)
        usage_spans.settle()
        assert ("hour", WINDOW_START) in _kept()  # read by the thread
        monkeypatch.setattr(usage_spans, "READ_NOW_MAX", None)  # from here, a missing copy would be read now
        before = _kept()
        assert _report(engine, window="24h", detail=detail) == first
        assert _read_again(before) == set()
        _assert_exact(engine, first)


def test_a_report_that_keeps_no_copies_reads_in_full_and_leaves_nothing_behind(engine, scene):
    """What the command line asks for (one report, then the process ends): the same report, no copy kept."""
    _fold(engine)
    alone = _report(engine, window="24h", detail=2, keep_copies=False)
    assert usage_spans._STORES == {}
    assert _report(engine, window="24h", detail=2) == alone
    _assert_exact(engine, alone)


def test_a_read_in_an_older_snapshot_keeps_to_its_own_copies(engine, scene):
    """Two reports of one process in different snapshots (a thread each): the newer one's copies replace the kept
    ones, and the older one still adds up the figures of its own snapshot, read under its own versions."""
    _fold(engine)
    before = _report(engine, window="24h")
    sdxl = str(scene["sdxl"])
    spans = {
        "database": engine.url.render_as_string(hide_password=True),
        "start": before.start,
        "hour": before.end - timedelta(hours=1),
        "end": before.end,
        "baseline": (before.baseline_start, before.baseline_end),
    }
    with acting_as(engine, SERVICE_ROLE, snapshot=True) as older:  # its snapshot: before the late change
        with engine.begin() as conn:
            conn.execute(sa.text("update jobs set status = 'failed' where created_at = :at"), {"at": WINDOW_START})
        _fold(engine)
        after = _report(engine, window="24h")  # the 09:00 copy is now the newer snapshot's
        window, _ = usage_spans.read(older, **spans)
    row = {m.model_id: m for m in before.models}[sdxl]
    assert window.counts_of(sdxl)[:3] == (row.jobs, row.completed, row.failed)
    changed = {m.model_id: m for m in after.models}[sdxl]
    assert (changed.completed, changed.failed) == (row.completed - 1, row.failed + 1)
    _assert_exact(engine, _report(engine, window="24h"))
