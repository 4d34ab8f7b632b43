"""Jobs per day and status over a range (the Usage page's per-day chart), with the range's past days kept in memory
per database and list of models for as long as they are true.

Over 90 days or all time, with *Active only* on, the per-day counts are every model's day totals less the days of
the inactive models that have jobs: at 10,000 models and 10M jobs spread over all of them, 254,071 daily rows read
and summed on every click (105-119 ms). A past day's rollup rows change only when a fold applies a late change to
one of its hours, or when the rollups are rewritten, and migration 0020 versions each hour for exactly that. So the
past whole days' part is kept under a digest of those versions (services/usage_spans.py does the same for Health),
and a click reads only the digest, today, the hours at the range's edges and the deltas not folded yet (which may
be of any day). The digest is read in the same snapshot as the rest, so a copy is never kept or served under
versions it does not match. Nothing here decides who may read: without the versions row (RLS shows it to admins and
the service role only) nothing is kept or served, and the caller reads as it would without copies.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dashboard.queries import usage as q

Row = tuple  # (day, status, jobs, rated_jobs, rating_sum): day_counts' columns
KEPT = 16  # copies kept per process: a few ranges, each with and without Active only, for a few databases
# Up to this many past whole days, the range is read whole on every click: keeping it saves next to nothing.
MIN_DAYS = q.SHORT_RANGE_DAYS

_kept: OrderedDict[tuple, tuple[str, list[Row]]] = OrderedDict()
_lock = threading.Lock()


def read(
    conn: sa.Connection,
    database: str,
    start: datetime | None,
    end: datetime | None,
    *,
    only: Sequence[str] | None = None,
    without: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[Row] | None:
    """day_counts_from_totals(start, end, only=, without=)'s rows, the past whole days from a kept copy; None when
    there is nothing worth keeping (a short range, a long list) or the versions cannot be read (not an admin), and
    the caller reads in full. conn: a transaction with one snapshot (REPEATABLE READ). database: whose copies."""
    listed = only if only is not None else without
    if listed is not None and len(listed) > q.BY_MODEL_MAX:
        return None
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    lo, hi = q.whole_days(*(None if t is None else t.astimezone(UTC) for t in (start, end)))
    past_end = today if hi is None else min(hi, today)
    if lo is not None and (past_end - lo) <= timedelta(days=MIN_DAYS):
        return None
    readable, digest = conn.execute(q.changes_digest(lo, past_end)).one()
    if not readable:
        return None
    lists = {"only": only} if only is not None else {"without": without} if without is not None else {}
    key = (database, *conn.execute(q.DATABASE_IDENTITY).one(), lo, past_end, *_listed(lists))
    with _lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
    if kept is None or kept[0] != digest:
        past = q.day_counts_from_totals(lo, past_end, now=now, deltas=False, **lists)
        kept = (digest, [tuple(row) for row in conn.execute(past)])
        with _lock:
            _kept[key] = kept
            while len(_kept) > KEPT:
                _kept.popitem(last=False)
    rest = conn.execute(q.day_counts_from_totals(start, end, now=now, days_from=past_end, **lists))
    return _added(kept[1], rest)


def _listed(lists: dict[str, Sequence[str] | None]) -> tuple[str, str]:
    """Which list (only, without or none) and a digest of its ids: a key of fixed size for any number of models."""
    for kind, ids in lists.items():
        return kind, hashlib.blake2b("\n".join(sorted(ids)).encode(), digest_size=16).hexdigest()
    return "", ""


def _added(past: list[Row], rest: sa.Result) -> list[Row]:
    """The two parts' rows summed per day and status, by day and status, without days that add up to no job."""
    sums: dict[tuple, list[int]] = {}
    for day, status, *figures in (*past, *rest):
        at = sums.setdefault((day, status), [0, 0, 0])
        for i, value in enumerate(figures):
            at[i] += int(value or 0)
    return [(*key, *figures) for key, figures in sorted(sums.items()) if figures[0]]


def forget() -> None:
    """Drop every copy (tests; a process that wants its memory back)."""
    with _lock:
        _kept.clear()
