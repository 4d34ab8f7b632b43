"""The part of a usage report's range before today, kept in memory between reports for as long as it is true.

A report counts per model and per day over a range. At 10,000 models and 10M jobs spread over all of them, the past
part of a range is most of that work on every click: over all time with *Active only* on, the per-day counts are
every model's day totals less the 254,071 daily rows of the inactive models (105-119 ms); over the last 24 hours,
yesterday's hours are a day of every model less the hours outside the range (about 100,000 rows, 56 ms). Past
hours change only when a fold applies a late change to them, or when the rollups are rewritten, and migration 0020
versions each hour for exactly that. So what the rollups hold of [start, today) is kept under a digest of those
versions, and a report reads only the digest, today's rollups and the deltas not folded yet (which may be of any
day, the past included). The digest is read in the same snapshot as the rest (the caller's transaction is
REPEATABLE READ), so a copy is never kept or served under versions it does not match.

Nothing here decides who may read: without the versions row (RLS shows it to admins and the service role only)
nothing is kept or served, and the caller reads as it would without copies. services/usage_spans.py does the same
for Health's windows.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dashboard.database import plain_rows
from dashboard.queries import usage as q

Row = tuple
T = TypeVar("T")
KEPT = 32  # copies kept per process: each range's counts and days, with and without Active only, a few databases
# A past of whole days up to this many is read whole at every click: today's rows read apart and added to a copy cost
# more than reading those days with them (7 days: 181-207 ms a click kept, 145-153 ms read whole; 30 days the same
# either way). A past that begins inside a day (the last 24 hours) is always kept: that edge is most of its cost.
READ_WHOLE_DAYS = 14

_kept: OrderedDict[tuple, tuple[str, object]] = OrderedDict()  # key -> (digest, rows or frame), never changed
_lock = threading.Lock()


@dataclass(frozen=True)
class Past:
    """A range [start, end) split at today (UTC): [start, today) kept under digest, the rest read at every report."""

    key: tuple  # whose copies (database, its identity) and which past
    digest: str
    start: datetime | None
    past_end: datetime  # today, or the range's end when it ends before today
    today: datetime
    end: datetime | None

    @property
    def rest(self) -> bool:
        """Whether the range reaches today."""
        return self.end is None or self.end > self.today


def split(
    conn: sa.Connection, database: str, start: datetime | None, end: datetime | None, *, now: datetime | None = None
) -> Past | None:
    """The range's past and its versions' digest; None when it has no past, a past not worth keeping (whole days,
    READ_WHOLE_DAYS at most), or the versions cannot be read (not an admin), and the caller reads in full. conn: a
    transaction with one snapshot. database: whose copies."""
    start, end = (None if t is None else t.astimezone(UTC) for t in (start, end))
    today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    past_end = today if end is None else min(end, today)
    if start is not None and start >= past_end:
        return None
    if start is not None and start.hour == 0 and past_end - start <= timedelta(days=READ_WHOLE_DAYS):
        return None
    readable, digest = conn.execute(q.changes_digest(start, past_end)).one()
    if not readable:
        return None
    identity = tuple(conn.execute(q.DATABASE_IDENTITY).one())
    return Past((database, *identity, start, past_end), digest, start, past_end, today, end)


def model_counts(
    conn: sa.Connection,
    past: Past,
    *,
    only: Sequence[str] | None = None,
    first_month: datetime | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """q.model_counts(model_totals_source(start, end), only=)'s rows as a frame (model_id, then q.SUM_NAMES as
    int64; unordered), the past from a kept copy."""
    listed = None if only is None else list(only)

    def read_past() -> pd.DataFrame:
        source = q.model_totals_source(past.start, past.past_end, first_month=first_month, now=now, deltas=False)
        return _frame(conn.execute(q.model_count_arrays(q.model_counts(source, only=listed))))

    kept = _kept_copy(("counts", *past.key, *_listed(only=only)), past.digest, read_past)
    parts = [q.delta_source(past.start, past.end)]
    if past.rest:
        parts.insert(0, q.model_totals_source(past.today, past.end, first_month=first_month, now=now, deltas=False))
    rest = sa.union_all(*(sa.select(*part.c) for part in parts)).subquery("rest")
    fresh = _frame(conn.execute(q.model_count_arrays(q.model_counts(rest, only=listed, partial=True))))
    return _summed(kept, fresh)


def _summed(kept: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """kept + fresh per model (both _frame's: indexed by model id, the same int64 columns), without the models at
    zero jobs, as a frame with model_id as its first column; kept is left as it is (a copy others read).

    By positions in numpy: DataFrame.add aligned the two on their text index in about 11 ms for 10,000 models,
    this takes about 1.3 ms. fresh holds only the models with a write since the past (a few hundred at most)."""
    at = kept.index.get_indexer(fresh.index)
    found = at >= 0
    values = kept.to_numpy(dtype=np.int64, copy=True)
    added = fresh[kept.columns].to_numpy(dtype=np.int64)
    np.add.at(values, at[found], added[found])
    index = kept.index
    if not found.all():
        index = index.append(fresh.index[~found])
        values = np.concatenate([values, added[~found]])
    some = values[:, list(kept.columns).index("total_jobs")] != 0
    return pd.DataFrame(values[some], columns=kept.columns, index=index[some]).reset_index()


def _frame(result: sa.Result) -> pd.DataFrame:
    """q.model_count_arrays' row as a frame indexed by model id, figures as int64."""
    ids, *figures = result.one()
    columns = {name: np.array(values, dtype=np.int64) for name, values in zip(q.SUM_NAMES, figures, strict=True)}
    return pd.DataFrame(columns, index=pd.Index(ids, name="model_id"))


def day_counts(
    conn: sa.Connection,
    past: Past,
    *,
    only: Sequence[str] | None = None,
    without: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[Row] | None:
    """q.day_counts_from_totals(start, end, only=, without=)'s rows, by day and status (a null day or status, which
    held deltas may have, last), the past from a kept copy; None for a list longer than q.BY_MODEL_MAX (read in
    full: one range scan)."""
    lists = {"only": only} if only is not None else {"without": without} if without is not None else {}
    if any(len(ids) > q.BY_MODEL_MAX for ids in lists.values()):
        return None
    lists = {kind: list(ids) for kind, ids in lists.items()}

    def read_past() -> list[Row]:
        return plain_rows(
            conn.execute(q.day_counts_from_totals(past.start, past.past_end, now=now, deltas=False, **lists))
        )

    kept = _kept_copy(("days", *past.key, *_listed(**lists)), past.digest, read_past)
    rest: list[Row] = []
    if past.rest:
        rest += plain_rows(conn.execute(q.day_counts_from_totals(past.today, past.end, now=now, deltas=False, **lists)))
    deltas = q.delta_source(past.start, past.end, grain="day")
    rest += plain_rows(conn.execute(q.day_counts(deltas, **lists, partial=True)))
    return sorted(
        _added(kept, rest), key=lambda row: (row[0] is None, row[0] or past.today, row[1] is None, row[1] or "")
    )


def _kept_copy(key: tuple, digest: str, read: Callable[[], T]) -> T:
    """The copy kept under key, when it was kept under digest; else read() now, kept."""
    with _lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
    if kept is None or kept[0] != digest:
        kept = (digest, read())
        with _lock:
            _kept[key] = kept
            while len(_kept) > KEPT:
                _kept.popitem(last=False)
    return kept[1]


def _listed(**lists: Sequence[str] | None) -> tuple[str, str]:
    """Which list (only, without or none) and a digest of its ids: a key of fixed size for any number of models."""
    for kind, ids in lists.items():
        if ids is not None:
            return kind, hashlib.blake2b("\n".join(sorted(ids)).encode(), digest_size=16).hexdigest()
    return "", ""


def _added(kept: list[Row], rest: list[Row]) -> list[Row]:
    """day_counts' rows of both parts summed per day and status, without those that add up to no job."""
    sums: dict[tuple, list[int]] = {}
    for day, status, *figures in (*kept, *rest):
        at = sums.setdefault((day, status), [0, 0, 0])
        for i, value in enumerate(figures):
            at[i] += int(value or 0)
    return [(*key, *figures) for key, figures in sums.items() if figures[0]]


def forget() -> None:
    """Drop every copy (tests; a process that wants its memory back)."""
    with _lock:
        _kept.clear()
