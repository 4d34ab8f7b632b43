"""Per-model job counts and durations over a window of whole hours and a baseline of whole days (what Health
judges), as arrays, read from the rollups and kept in memory per database for as long as they are true.

The window's closed hours and the baseline's days change only when a fold applies a late change to them or the
rollups are rewritten, and migration 0020 versions each hour for exactly that. So what was read of a closed hour or
a day is kept under its versions (an hour's, and the one for every hour), and read again only when they change;
the current hour and the deltas not folded yet are read every time. The versions are read in the same snapshot as
everything else (the caller's transaction is REPEATABLE READ), so a copy is never kept under versions it does not
match. Nothing here decides who may read: the reads run as the caller, and without the versions row (RLS shows it
to admins and the service role only) nothing is kept or served.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
import sqlalchemy as sa

from dashboard.queries import latency as lq
from dashboard.queries import usage as q

Counts = tuple[int, int, int, int, int]  # total, completed, failed, rated, rating_sum
_COUNTS = 5
_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)
_SUMS_KEPT = 4  # sums of pieces kept per database: the two windows' closed hours and their two baselines
# Periods a report reads itself when its copies lack them (an hour turning, a late change): past this, a background
# thread reads them (None: the report always reads them itself; the tests, for reports that do not race a thread).
READ_NOW_MAX: int | None = 3
# How long that thread waits before it reads: the report that started it is part of a page's run (a fresh server's
# first Overview), and the read (about 1 s of both cores at 10,000 models) slowed that run when it began at once. A
# report in the meantime reads what it shows in full, as the first one did.
WARM_AFTER = 1.0
_ONE_BY_ONE = 256  # percentiles a Tally works out model by model before it works them out for every model at once


@dataclass(frozen=True)
class Tally:
    """Per model over one span: counts[i] = (total, completed, failed, rated, rating_sum) and durations[i] = completed
    jobs per duration bucket (lq.COLUMNS) of the model models[i]."""

    models: Sequence[str]
    counts: np.ndarray
    durations: np.ndarray
    _percentiles: dict[float, list[float | None]] = field(default_factory=dict, compare=False, repr=False)
    _asked: dict[float, dict[int, float | None]] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def row(self) -> dict[str, int]:
        return {model: i for i, model in enumerate(self.models)}

    @cached_property
    def _counts(self) -> list[Counts]:
        return [tuple(row) for row in self.counts.tolist()]

    @cached_property
    def _timed(self) -> list[int]:
        return self.durations.sum(axis=1).tolist()

    def counts_of(self, model: str) -> Counts:
        i = self.row.get(model)
        return (0, 0, 0, 0, 0) if i is None else self._counts[i]

    def with_jobs(self) -> dict[str, Counts]:
        """The counts of every model whose total is not 0 (a rollup row a fold took back to zero is no job)."""
        return {model: counts for model, counts in zip(self.models, self._counts, strict=True) if counts[0]}

    def timed_of(self, model: str) -> int:
        """Completed jobs with a duration (what a percentile is of), as the rows add up."""
        i = self.row.get(model)
        return 0 if i is None else self._timed[i]

    def percentile_of(self, q: float, model: str) -> float | None:
        """lq.percentiles' value for one model: worked out for that model alone for the first few asked (a report
        that names a hundred models), then for every model at once (a report that judges thousands)."""
        i = self.row.get(model)
        if i is None:
            return None
        values = self._percentiles.get(q)
        if values is None:
            asked = self._asked.setdefault(q, {})
            if i in asked:
                return asked[i]
            if len(asked) < _ONE_BY_ONE:
                asked[i] = _value(lq.percentiles(self.durations[i : i + 1], q)[0])
                return asked[i]
            values = [_value(v) for v in lq.percentiles(self.durations, q).tolist()]
            self._percentiles[q] = values
        return values[i]


def _value(percentile: float) -> float | None:
    return None if math.isnan(percentile) else float(percentile)


def _fetched(rows: Iterable[Sequence]) -> list:
    """Rows as a list: a query's result fetched in one go (iterated, it fetches row by row, which in a report with
    every model busy in its hour, 60,000 rows, cost about 75 ms more)."""
    return rows.all() if isinstance(rows, sa.Result) else list(rows)


def tally(count_rows: Iterable[Sequence], duration_rows: Iterable[Sequence]) -> Tally:
    """A Tally of rows read in full: (model, total, completed, failed, rated, rating_sum) and (model, bucket, jobs)."""
    parts = _Parts(_Models())
    parts.add_counts((model, *(v or 0 for v in values)) for model, *values in _fetched(count_rows))  # nothing: null
    parts.add_durations(duration_rows)
    counts, durations = _zeros(len(parts.models.ids))
    parts.add_into(counts, durations)
    return Tally(tuple(parts.models.ids), counts, durations)


def read(
    conn: sa.Connection,
    database: str,
    *,
    start: datetime,
    hour: datetime,
    end: datetime,
    baseline: tuple[datetime, datetime],
    warm: Callable[[], None] | None = None,
) -> tuple[Tally, Tally] | None:
    """(window, baseline): jobs created in [start, end), the hours before `hour` kept between calls, and in
    [baseline[0], baseline[1]), whole days kept between calls; None when the versions cannot be read (not an admin,
    or no versions row), and the caller reads in full. database: whose copies (the engine's URL, without password).

    warm: how to run this read in a transaction of its own. Given, and more than READ_NOW_MAX periods missing (a
    process's first report: every past hour and day of every model), the copies are read by warm() in a background
    thread and None is returned, so that this report reads only what it shows, as a report without copies does."""
    versions: dict[datetime | None, object] = {}
    for at, version in conn.execute(q.changes(baseline[0], hour)):
        versions[None if at is None else at.astimezone(UTC)] = version
    if None not in versions:
        return None
    everything = versions[None]
    hours = _steps(start, hour, _HOUR)
    days = _steps(*baseline, _DAY)
    hour_keys = [("hour", h, (versions.get(h),), everything) for h in hours]
    day_keys = [("day", d, tuple(versions.get(d + k * _HOUR) for k in range(24)), everything) for d in days]
    store = _store((database, *conn.execute(q.DATABASE_IDENTITY).one()))
    missing = store.missing(hour_keys + day_keys)
    if warm is not None and READ_NOW_MAX is not None and len(missing) > READ_NOW_MAX:
        store.warm_in_background(warm)
        return None
    pieces = store.pieces_for(conn, hour_keys + day_keys, forget_before=min([*days, start]) - _DAY)

    window = _Parts(store.models)
    window.add_counts(conn.execute(q.model_parts(q.hourly_source(hour, end, deltas_from=start))))
    window.add_durations(conn.execute(lq.latency_parts(hour, start, end)))
    later = _Parts(store.models)
    later.add_counts(conn.execute(q.model_parts(q.delta_source(*baseline))))
    later.add_durations(conn.execute(lq.latency_parts(None, *baseline)))
    return store.total(hour_keys, pieces, window), store.total(day_keys, pieces, later)


def _steps(first: datetime, end: datetime, step: timedelta) -> list[datetime]:
    return [first + i * step for i in range(max(0, int((end - first) / step)))]


# ─── Model rows ───────────────────────────────────────────────────────────────────────────────────
class _Models:
    """Every model id seen, each given a row number once (per database, for as long as the process runs)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self._lock = threading.Lock()

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        index = self.index
        with self._lock:
            for model in ids:
                if model not in index:
                    index[model] = len(self.ids)
                    self.ids.append(model)
            return np.fromiter((index[m] for m in ids), dtype=np.int32, count=len(ids))


@dataclass
class _Parts:
    """Rows read for one span, as arrays of model rows and figures, to be added up into a Tally."""

    models: _Models
    count_rows: list[np.ndarray] = field(default_factory=list)
    count_values: list[np.ndarray] = field(default_factory=list)
    duration_rows: list[np.ndarray] = field(default_factory=list)
    duration_buckets: list[np.ndarray] = field(default_factory=list)
    duration_jobs: list[np.ndarray] = field(default_factory=list)

    def add_counts(self, rows: Iterable[Sequence]) -> None:
        """Rows of (model, total, completed, failed, rated, rating_sum)."""
        rows = _fetched(rows)
        if rows:
            self.add_count_columns(*zip(*rows, strict=True))

    def add_count_columns(self, models: Sequence[str], *values: Sequence[int]) -> None:
        """The same as columns: models, then totals, completed, ... (one element per model)."""
        if models:
            self.count_rows.append(self.models.rows(models))
            self.count_values.append(np.array(values, dtype=np.int64).T)

    def add_durations(self, rows: Iterable[Sequence]) -> None:
        """Rows of (model, duration bucket, jobs)."""
        rows = _fetched(rows)
        if rows:
            self.add_duration_columns(*zip(*rows, strict=True))

    def add_duration_columns(self, models: Sequence[str], buckets: Sequence[int], jobs: Sequence[int]) -> None:
        """The same as three columns."""
        if models:
            self.duration_rows.append(self.models.rows(models))
            clipped = np.clip(np.array(buckets, dtype=np.int64), 0, lq.OPEN_BUCKET)  # any smallint, then 0..89
            self.duration_buckets.append(clipped.astype(np.int8))
            self.duration_jobs.append(np.array(jobs, dtype=np.int64))

    @property
    def empty(self) -> bool:
        return not self.count_rows and not self.duration_rows

    def add_into(self, counts: np.ndarray, durations: np.ndarray) -> None:
        """Add these rows to per-model arrays (rows numbered by self.models, as many as they have)."""
        for rows, values in zip(self.count_rows, self.count_values, strict=True):
            np.add.at(counts, rows, values)
        for rows, buckets, jobs in zip(self.duration_rows, self.duration_buckets, self.duration_jobs, strict=True):
            np.add.at(durations, (rows, buckets), jobs)


def _zeros(size: int, base: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """New per-model arrays of counts and durations for size models, holding base's rows first when given."""
    counts, durations = np.zeros((size, _COUNTS), np.int64), np.zeros((size, lq.COLUMNS), np.int64)
    if base is not None:
        counts[: len(base[0])], durations[: len(base[1])] = base
    return counts, durations


# ─── What is kept per database ────────────────────────────────────────────────────────────────────
Key = tuple  # (grain, period start, its hours' versions, every hour's version)


class _Store:
    def __init__(self) -> None:
        self.models = _Models()
        self.pieces: dict[tuple[str, datetime], tuple[Key, _Parts]] = {}
        self.sums: OrderedDict[tuple[Key, ...], Tally] = OrderedDict()
        self.warming: threading.Thread | None = None
        self._lock = threading.Lock()

    def missing(self, keys: list[Key]) -> list[Key]:
        """The periods whose copy is missing or out of date."""
        with self._lock:
            return [k for k in keys if self.pieces.get((k[0], k[1]), (None,))[0] != k]

    def pieces_for(self, conn: sa.Connection, keys: list[Key], *, forget_before: datetime) -> dict[Key, _Parts]:
        """The copy of each period under exactly these keys: kept, or read now (one read per grain and kind) and kept.
        Another report may replace a kept copy meanwhile (a later snapshot's): this one keeps to its own."""
        with self._lock:
            found = {k: self.pieces[(k[0], k[1])][1] for k in keys if self.pieces.get((k[0], k[1]), (None,))[0] == k}
        for grain in ("hour", "day"):
            wanted = {int(k[1].timestamp()): k for k in keys if k[0] == grain and k not in found}
            if not wanted:
                continue
            periods = [k[1] for k in wanted.values()]
            parts = {at: _Parts(self.models) for at in wanted}
            for at, *columns in conn.execute(q.rollup_rows(grain, periods)):
                parts[int(at)].add_count_columns(*columns)
            for at, *columns in conn.execute(lq.latency_rows(grain, periods)):
                parts[int(at)].add_duration_columns(*columns)
            found |= {key: parts[at] for at, key in wanted.items()}
            with self._lock:
                self.pieces |= {(grain, key[1]): (key, parts[at]) for at, key in wanted.items()}
        with self._lock:
            for period in [p for p in self.pieces if p[1] < forget_before]:
                del self.pieces[period]
        return found

    def warm_in_background(self, warm: Callable[[], None]) -> None:
        """Run warm() in a daemon thread, WARM_AFTER seconds from now, unless one is already warming this store."""
        with self._lock:
            if self.warming is not None and self.warming.is_alive():
                return

            def run() -> None:
                time.sleep(WARM_AFTER)
                try:
                    warm()
                except Exception:  # noqa: BLE001 — a lost connection or a revoked role: the next report tries again
                    pass

            self.warming = threading.Thread(target=run, name="usage-spans-warm", daemon=True)
            self.warming.start()

    def total(self, keys: list[Key], pieces: dict[Key, _Parts], fresh: _Parts) -> Tally:
        """The periods' sum (kept, by their keys) plus what was read fresh. With nothing fresh (a baseline no late
        change touched), the kept sum itself: what a report works out of it (its percentiles) is kept with it."""
        with self._lock:
            kept = self.sums.get(tuple(keys))
        if kept is None:
            counts, durations = _zeros(len(self.models.ids))
            for key in keys:
                pieces[key].add_into(counts, durations)
            counts.flags.writeable = durations.flags.writeable = False  # shared: every later total copies it
            kept = Tally(tuple(self.models.ids[: len(counts)]), counts, durations)
            with self._lock:
                self.sums[tuple(keys)] = kept
                while len(self.sums) > _SUMS_KEPT:
                    self.sums.popitem(last=False)
        if fresh.empty:
            return kept
        models = tuple(self.models.ids)
        counts, durations = _zeros(len(models), (kept.counts, kept.durations))
        fresh.add_into(counts, durations)
        return Tally(models, counts, durations)


_STORES: OrderedDict[tuple, _Store] = OrderedDict()
_STORES_KEPT = 4  # databases (or server starts) whose copies a process keeps
_STORES_LOCK = threading.Lock()


def _store(database: tuple) -> _Store:
    with _STORES_LOCK:
        store = _STORES.pop(database, None) or _Store()
        _STORES[database] = store
        while len(_STORES) > _STORES_KEPT:
            _STORES.popitem(last=False)
        return store


def settle(timeout: float = 60) -> None:
    """Wait for the background reads under way (tests, benchmarks)."""
    with _STORES_LOCK:
        threads = [s.warming for s in _STORES.values() if s.warming is not None]
    for thread in threads:
        thread.join(timeout)


def forget() -> None:
    """Drop every copy (tests; a process that wants its memory back)."""
    settle()
    with _STORES_LOCK:
        _STORES.clear()
