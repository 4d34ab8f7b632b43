"""The past of a usage report's range kept between reports (services/usage_past.py, migration 0020): per model and
per day, a read served from a kept copy is the jobs counted one by one, through late changes, folds, pending deltas,
a recount and a hand edit of the rollups, for every list of models a filter makes; only admins keep or use a copy."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import acting_as
from dashboard.queries import usage as q
from dashboard.services import usage_past
from dashboard.services.usage import UsageRange, UsageService
from tests import hostile
from tests.factories import make_model, make_user
from tests.integration.test_usage import NOW, RANGES, _random_writes
from tests.integration.test_usage_rollups import (
    ALL_RANGES,
    EDGE_RANGES,
    MONTH_RANGES,
    _days_from_jobs,
    _model_lists,
    catalogue,  # noqa: F401 — the fixture
)
from tests.integration.test_usage_states import _pending

DATABASE = "the test database"


@pytest.fixture(autouse=True)
def no_copies():
    usage_past.forget()
    yield
    usage_past.forget()


def _snapshot(engine, person):
    """A transaction as the report opens it: the delta tables locked, then one snapshot."""
    return acting_as(engine, person, snapshot=True, lock=q.LOCK_DELTAS)


def _kept_days(engine, person, period: UsageRange, **listed):
    with _snapshot(engine, person) as conn:
        return _days_in(conn, period, **listed)


def _days_in(conn, period: UsageRange, **listed):
    past = usage_past.split(conn, DATABASE, period.start, period.end, now=NOW)
    return None if past is None else usage_past.day_counts(conn, past, now=NOW, **listed)


def _kept_counts(engine, person, period: UsageRange, only=None):
    with _snapshot(engine, person) as conn:
        past = usage_past.split(conn, DATABASE, period.start, period.end, now=NOW)
        return None if past is None else _rows(usage_past.model_counts(conn, past, only=only, now=NOW))


def _rows(frame) -> list[tuple]:
    """A frame of counts as sorted tuples of plain values."""
    return sorted(tuple(row) for row in frame.itertuples(index=False, name=None))


_JOB_COUNTS = sa.text("""
select api_model_id::text, count(*), count(*) filter (where status = 'completed'),
       count(*) filter (where status = 'failed'), count(quality_rating), coalesce(sum(quality_rating), 0)
from jobs where api_model_id is not null and created_at >= :start and created_at < :end
group by 1 order by 1
""")


def _counts_from_jobs(engine, period: UsageRange, only=None) -> list:
    start, end = period.start or datetime(1, 1, 1, tzinfo=UTC), period.end or datetime(9999, 1, 1, tzinfo=UTC)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(_JOB_COUNTS, {"start": start, "end": end})]
    return [r for r in rows if only is None or r[0] in only]


def _assert_exact(engine, admin, models, other, periods) -> int:
    """Every list of models a filter makes, over every range: served (kept or read now) equals jobs counted one by
    one, per model and per day. Returns how many reads were served from copies (the rest had no past)."""
    served = 0
    for period in periods:
        counts = _kept_counts(engine, admin, period)
        if counts is not None:
            served += 1
            assert counts == _counts_from_jobs(engine, period), period
    for what, kept, left_out in [("every model", None, None), *_model_lists(engine, models, other)]:
        for period in periods:
            if kept is not None:
                counts = _kept_counts(engine, admin, period, only=kept)
                assert counts is None or counts == _counts_from_jobs(engine, period, only=kept), (what, period)
            for listed in ({"only": kept}, {"without": left_out}) if kept is not None else ({},):
                rows = _kept_days(engine, admin, period, **listed)
                if rows is None:
                    continue
                served += 1
                assert rows == _days_from_jobs(engine, period, **listed), (what, period, listed.keys())
    return served


def _copies() -> dict:
    return {key: copy for key, copy in usage_past._kept.items() if key[0] == "days"}


def test_kept_days_are_the_jobs_counted_through_late_changes_folds_and_pending_deltas(engine, catalogue):  # noqa: F811
    models, admin, other = catalogue
    rng = random.Random(7)
    _random_writes(engine, models, rng, 80)
    UsageService(engine, user_id=admin).fold()
    assert _assert_exact(engine, admin, models, other, ALL_RANGES) > 20
    # Late changes to past days, pending and then folded, over ranges of every kind (open ends, months, long edges).
    some = [*RANGES[:5], *MONTH_RANGES[:4], *EDGE_RANGES[::2]]
    for round_ in range(2):
        _random_writes(engine, models, rng, 25)
        if round_:
            UsageService(engine, user_id=admin).fold()
        _assert_exact(engine, admin, models, other, some)


def test_a_copy_is_read_again_only_when_a_fold_changed_its_days(engine, catalogue):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(3), 60)
    UsageService(engine, user_id=admin).fold()
    period = UsageRange(start=NOW - timedelta(days=30))
    first = _kept_days(engine, admin, period)
    [copy] = _copies().values()
    # Today's jobs, folded or not, and deltas of any day: read at every click, the copy stays.
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into jobs (api_model_id, status, created_at) values (:m, 'completed', :t)"),
            [{"m": models[0], "t": NOW - timedelta(minutes=5)}, {"m": models[1], "t": NOW - timedelta(days=9)}],
        )
    assert _kept_days(engine, admin, period) == _days_from_jobs(engine, period) != first
    assert list(_copies().values()) == [copy]
    UsageService(engine, user_id=admin).fold()  # the late job of nine days ago is folded: that day changed
    assert _kept_days(engine, admin, period) == _days_from_jobs(engine, period)
    [again] = _copies().values()
    assert again is not copy and again[0] != copy[0]


def test_a_recount_and_a_hand_edit_of_the_rollups_replace_the_copy(engine, catalogue):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(11), 60)
    UsageService(engine, user_id=admin).fold()
    period = UsageRange()
    assert _kept_days(engine, admin, period) == _days_from_jobs(engine, period)
    [before] = _copies().values()
    UsageService(engine, user_id=admin).rebuild()
    assert _kept_days(engine, admin, period) == _days_from_jobs(engine, period)
    [after_recount] = _copies().values()
    assert after_recount[0] != before[0]
    with engine.begin() as conn:  # an operator's edit, outside any fold: wrong counts, but the copy must follow them
        conn.execute(sa.text("update dashboard.job_usage_daily set jobs = jobs + 1 where bucket < :t"), {"t": NOW})
    rows = _kept_days(engine, admin, period)
    [after_edit] = _copies().values()
    assert after_edit[0] != after_recount[0]
    with acting_as(engine, admin) as conn:  # what the rollups now say, read whole
        assert rows == [tuple(r) for r in conn.execute(q.day_counts_from_totals(None, None, now=NOW))]


def test_a_fold_beside_a_report_in_its_snapshot_folds_and_each_side_is_exact(engine, catalogue):  # noqa: F811
    """A fold truncates what it folded, which a snapshot taken before it would see in neither the deltas nor the
    rollups (TRUNCATE is not MVCC-safe). The report's transaction locks the delta tables before its snapshot; the fold
    folds beside it (migration 0024: readers are not held up), finds the table held when it comes to free it, and
    deletes the rows instead after its 200 ms lock timeout: the report is exact in its own snapshot, a report after
    the fold in its own, and the next fold frees the dead rows."""
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(5), 60)
    UsageService(engine, user_id=admin).fold()
    period = UsageRange(start=NOW - timedelta(days=30))
    assert _kept_days(engine, admin, period) is not None
    with engine.begin() as conn:  # a late change to a past day, pending
        conn.execute(
            sa.text("update jobs set status = 'failed' where created_at >= :t"), {"t": NOW - timedelta(days=9)}
        )
    expected = _days_from_jobs(engine, period)
    with _snapshot(engine, admin) as old:
        before = _days_in(old, period)
        started = time.monotonic()
        # It folded, though the report holds the tables. A fold that cannot lock the table it folds within 200 ms
        # (an autovacuum of it on a busy machine, say) folds nothing and the next one does: up to three are tried.
        assert any(UsageService(engine, user_id=admin).fold() > 0 for _ in range(3))
        assert time.monotonic() - started < 5  # folds, each waiting 200 ms at most to lock or to truncate
        assert before == _days_in(old, period) == expected  # the report's snapshot: as before the fold
        assert _kept_days(engine, admin, period) == expected  # a report after the fold, from the rollups
    assert _pending(engine)[0] == 0  # deleted: nothing pending, though the dead rows are still there
    UsageService(engine, user_id=admin).fold()  # no reader now: both tables truncated, the dead rows freed
    assert _pending(engine) == (0, 0)
    assert _kept_days(engine, admin, period) == expected


_JOB_DAYS = sa.text("""
select date_trunc('day', created_at, 'UTC'), status::text, count(*), count(quality_rating),
       coalesce(sum(quality_rating), 0)
from jobs where api_model_id is not null and created_at >= :start group by 1, 2 order by 1, 2
""")


def test_reports_racing_folds_and_writers_are_the_jobs_of_their_own_snapshot(engine, catalogue):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(21), 60)
    UsageService(engine, user_id=admin).fold()
    period = UsageRange(start=NOW - timedelta(days=30))
    stop = threading.Event()

    def fold() -> None:
        while not stop.is_set():
            UsageService(engine, user_id=admin).fold()

    def write() -> None:
        rng = random.Random(22)
        while not stop.is_set():
            _random_writes(engine, models, rng, 3)

    threads = [threading.Thread(target=fold), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(12):
            with _snapshot(engine, admin) as conn:
                days = _days_in(conn, period)
                past = usage_past.split(conn, DATABASE, period.start, None, now=NOW)
                counts = _rows(usage_past.model_counts(conn, past, now=NOW))
                conn.execute(sa.text("reset role"))  # the jobs themselves, in the same snapshot
                expected = [tuple(r) for r in conn.execute(_JOB_DAYS, {"start": period.start})]
                expected_counts = [
                    tuple(r)
                    for r in conn.execute(_JOB_COUNTS, {"start": period.start, "end": datetime(9999, 1, 1, tzinfo=UTC)})
                ]
            assert days == expected
            assert counts == expected_counts
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def test_only_admins_keep_or_use_copies(engine, catalogue):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(2), 30)
    UsageService(engine, user_id=admin).fold()
    assert _kept_days(engine, admin, UsageRange()) is not None
    assert _kept_days(engine, make_user(engine, "user"), UsageRange()) is None
    assert len(_copies()) == 1


def test_ranges_with_no_past_or_a_short_one_and_long_lists_are_read_whole(engine, catalogue, monkeypatch):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(9), 30)
    today = NOW.replace(hour=0)
    short = UsageRange.preset("7d", now=NOW)  # six whole past days: cheaper read whole with today's
    for period in (UsageRange(start=today), UsageRange(start=NOW - timedelta(hours=3), end=NOW), short):
        assert _kept_days(engine, admin, period) is None
        assert _kept_counts(engine, admin, period) is None
    assert _kept_days(engine, admin, UsageRange.preset("30d", now=NOW)) is not None
    usage_past.forget()
    monkeypatch.setattr(usage_past.q, "BY_MODEL_MAX", 1)
    assert _kept_days(engine, admin, UsageRange(), only=[str(m) for m in models[:2]]) is None
    assert not _copies()


def test_the_last_24_hours_keep_yesterdays_hours_and_read_todays(engine, catalogue):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(13), 60)
    UsageService(engine, user_id=admin).fold()
    for now in (NOW, NOW.replace(hour=0, minute=30), NOW.replace(hour=23, minute=59)):
        period = UsageRange.preset("24h", now=now)
        with acting_as(engine, admin, snapshot=True) as conn:
            past = usage_past.split(conn, DATABASE, period.start, period.end, now=now)
            if now.hour == 23:  # the last 24 hours are today's: no past, read whole
                assert past is None
                continue
            assert past.past_end == now.replace(hour=0, minute=0)
            days = usage_past.day_counts(conn, past, now=now)
            counts = _rows(usage_past.model_counts(conn, past, now=now))
        assert days == _days_from_jobs(engine, period)
        assert counts == _counts_from_jobs(engine, period)


def test_hostile_rows_written_in_sql_are_counted_as_the_jobs_are(engine, catalogue):  # noqa: F811
    """Jobs another program wrote: a status of markup and a formula, a far past and the first instant of a day, a
    model the filters leave out, no model at all."""
    models, admin, other = catalogue
    odd = make_model(engine, other, display_name=hostile.SCRIPT, task=hostile.FORMULA)
    with engine.begin() as conn:
        for status in ("completed", "failed"):  # statuses the schema accepts, at the edges of days
            conn.execute(
                sa.text("insert into jobs (api_model_id, status, quality_rating, created_at) values (:m, :s, :q, :t)"),
                [
                    {"m": odd, "s": status, "q": 5, "t": datetime(2001, 1, 1, tzinfo=UTC)},
                    {"m": models[0], "s": status, "q": None, "t": NOW.replace(hour=0) - timedelta(days=4)},
                    {"m": None, "s": status, "q": 1, "t": NOW - timedelta(days=6)},
                ],
            )
    UsageService(engine, user_id=admin).fold()
    _assert_exact(engine, admin, [*models, odd], other, [UsageRange(), *MONTH_RANGES[:4]])


def test_a_pending_rating_change_of_a_past_day_moves_its_rating_not_its_jobs(engine, catalogue):  # noqa: F811
    """Today's part sums to no job on that day (one job out, the same job back in) but not to no rating: it must
    still reach the day kept."""
    models, admin, _ = catalogue
    day = NOW.replace(hour=0) - timedelta(days=8)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, quality_rating, created_at) values (:m, 'completed', 2, :t)"
            ),
            {"m": models[0], "t": day + timedelta(hours=3)},
        )
    UsageService(engine, user_id=admin).fold()
    period = UsageRange(start=NOW - timedelta(days=30))
    assert (day, "completed", 1, 1, 2) in _kept_days(engine, admin, period)
    with engine.begin() as conn:
        conn.execute(
            sa.text("update jobs set quality_rating = 5 where created_at = :t"), {"t": day + timedelta(hours=3)}
        )
    assert (day, "completed", 1, 1, 5) in _kept_days(engine, admin, period)
    assert _kept_days(engine, admin, period) == _days_from_jobs(engine, period)


def test_totals_are_the_jobs_of_the_models_each_person_sees_and_keep_the_ranges_past(engine, catalogue):  # noqa: F811
    """UsageService.totals (the Overview's 30 days): pending and folded, for an admin (a copy of the past, kept and
    served) and for a plain user (their own jobs of the models they see, no copy); a job of a hidden model, one with
    no model and one of a far past are written in SQL."""
    models, admin, other = catalogue
    hidden = make_model(engine, other, display_name=hostile.SCRIPT, is_active=False)
    user = make_user(engine, "user")
    period = UsageRange.last_days(30)
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into jobs (user_id, api_model_id, status, created_at) values (:u, :m, :s, :t)"),
            [
                {"u": user, "m": hidden, "s": "failed", "t": period.start},
                {"u": user, "m": models[0], "s": "completed", "t": period.start + timedelta(days=3)},
                {"u": user, "m": None, "s": "failed", "t": period.start + timedelta(days=4)},
                {"u": user, "m": models[1], "s": "failed", "t": period.start - timedelta(microseconds=1)},
            ],
        )
    rng = random.Random(21)
    _random_writes(engine, models, rng, 30)
    UsageService(engine, user_id=admin).fold()
    _random_writes(engine, models, rng, 10)  # pending

    def expected(person) -> tuple[int, int, int]:
        with acting_as(engine, person) as conn:  # as the person: RLS on jobs and on api_models
            return tuple(
                conn.execute(
                    sa.text(
                        "select count(*), count(*) filter (where j.status = 'completed'), "
                        "count(*) filter (where j.status = 'failed') from jobs j join api_models m "
                        "on m.id = j.api_model_id where j.created_at >= :start"
                    ),
                    {"start": period.start},
                ).one()
            )

    assert UsageService(engine, user_id=admin).totals(period) == expected(admin)
    kept = dict(usage_past._kept)
    assert [key[0] for key in kept] == ["counts"]
    assert UsageService(engine, user_id=admin).totals(period) == expected(admin)
    assert all(usage_past._kept[k] is kept[k] for k in kept)  # served, not read again
    assert UsageService(engine, user_id=user).totals(period) == expected(user) != expected(admin)
    assert dict(usage_past._kept) == kept
