"""The per-day counts' past days kept between reports (services/usage_days.py, migration 0020): a read served from a
kept copy is the jobs counted one by one, through late changes, folds, pending deltas, a recount and a hand edit of
the rollups, for every list of models a filter makes; only admins' reads keep or use a copy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.database import acting_as
from dashboard.queries import usage as q
from dashboard.services import usage_days
from dashboard.services.usage import UsageRange, UsageService
from tests import hostile
from tests.factories import make_model, make_user
from tests.integration.test_usage import NOW, _random_writes
from tests.integration.test_usage_rollups import (
    ALL_RANGES,
    MONTH_RANGES,
    _days_from_jobs,
    _model_lists,
    catalogue,  # noqa: F401 — the fixture
)

DATABASE = "the test database"


@pytest.fixture(autouse=True)
def no_copies():
    usage_days.forget()
    yield
    usage_days.forget()


def _kept_days(engine, person, period: UsageRange, **listed):
    with acting_as(engine, person, snapshot=True) as conn:
        return usage_days.read(conn, DATABASE, period.start, period.end, now=NOW, **listed)


def _assert_exact(engine, admin, models, other, periods) -> int:
    """Every list of models a filter makes, over every range: served (kept or read now) equals jobs counted one by
    one. Returns how many reads were served from copies (the rest were too short to keep)."""
    served = 0
    for what, kept, left_out in [("every model", None, None), *_model_lists(engine, models, other)]:
        for period in periods:
            for listed in ({"only": kept}, {"without": left_out}) if kept is not None else ({},):
                rows = _kept_days(engine, admin, period, **listed)
                if rows is None:
                    continue
                served += 1
                assert rows == _days_from_jobs(engine, period, **listed), (what, period, listed.keys())
    return served


def _copies() -> dict:
    return {key: copy for key, copy in usage_days._kept.items()}


def test_kept_days_are_the_jobs_counted_through_late_changes_folds_and_pending_deltas(engine, catalogue):  # noqa: F811
    models, admin, other = catalogue
    rng = random.Random(7)
    _random_writes(engine, models, rng, 80)
    UsageService(engine, user_id=admin).fold()
    assert _assert_exact(engine, admin, models, other, ALL_RANGES) > 20
    for round_ in range(4):  # late changes to past days: pending, then folded, then both
        _random_writes(engine, models, rng, 25)
        if round_ % 2:
            UsageService(engine, user_id=admin).fold()
        _assert_exact(engine, admin, models, other, ALL_RANGES)


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


def test_reads_in_two_snapshots_around_a_fold_each_keep_to_their_own_versions(engine, catalogue):  # noqa: F811
    """A read whose snapshot is from before a fold of a past day never serves the copy kept after it, nor keeps its
    own copy under the later versions: each is exact in its own snapshot."""
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(5), 60)
    UsageService(engine, user_id=admin).fold()
    period = UsageRange(start=NOW - timedelta(days=30))
    with engine.begin() as conn:
        conn.execute(
            sa.text("update jobs set status = 'failed' where id = (select id from jobs where created_at < :t limit 1)"),
            {"t": NOW - timedelta(days=3)},
        )
    expected_after = _days_from_jobs(engine, period)
    with acting_as(engine, admin, snapshot=True) as old:
        old.execute(sa.text("select 1")).all()  # the snapshot is taken: the fold below is not in it
        UsageService(engine, user_id=admin).fold()
        assert _kept_days(engine, admin, period) == expected_after  # kept under the new versions
        assert usage_days.read(old, DATABASE, period.start, period.end, now=NOW) == expected_after
    assert _kept_days(engine, admin, period) == expected_after


def test_only_admins_keep_or_use_copies(engine, catalogue):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(2), 30)
    UsageService(engine, user_id=admin).fold()
    assert _kept_days(engine, admin, UsageRange()) is not None
    assert _kept_days(engine, make_user(engine, "user"), UsageRange()) is None
    assert len(_copies()) == 1


def test_short_ranges_and_long_lists_are_read_whole(engine, catalogue, monkeypatch):  # noqa: F811
    models, admin, _ = catalogue
    _random_writes(engine, models, random.Random(9), 30)
    assert _kept_days(engine, admin, UsageRange.preset("24h", now=NOW)) is None
    assert _kept_days(engine, admin, UsageRange(start=NOW - timedelta(days=2))) is None
    monkeypatch.setattr(usage_days.q, "BY_MODEL_MAX", 1)
    assert _kept_days(engine, admin, UsageRange(), only=[str(m) for m in models[:2]]) is None
    assert not _copies()


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
