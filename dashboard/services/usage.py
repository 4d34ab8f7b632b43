"""Usage and failure analytics: jobs per model and per day over a date range, exact and fast.

Admins (and the service role) read the rollups that migrations 0005-0013 keep up to date by trigger, folding
the backlog first or reading jobs instead when it is large (services/usage_folding.py); anyone else counts the
jobs RLS shows them, one by one, exactly as the seed's query would.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.database import create_db_engine, plain_rows
from dashboard.queries import models as model_queries
from dashboard.queries import usage as q
from dashboard.queries.tables import one_of
from dashboard.services import catalogue_changes, usage_folding, usage_past
from dashboard.services.base import ActingService
from dashboard.services.errors import InvalidRange
from db.live import recount_usage

PRESETS = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "all": "All time",
}
_PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}
STATUSES = ("completed", "failed", "cancelled", "processing", "queued")
GROUPINGS = {"model": "Model", "provider": "Provider", "modality": "Modality", "task": "Task"}
GROUP_COLUMN = {"model": "display_name", "provider": "provider_name", "modality": "modality", "task": "task"}
COUNT_COLUMNS = ("total_jobs", "completed_jobs", "failed_jobs", "other_jobs", "rated_jobs", "rating_sum")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidRange("give times with a time zone (UTC)")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class UsageRange:
    """Jobs created from start (inclusive) to end (exclusive), UTC, in whole hours; None is open."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is None:
                continue
            moment = _utc(moment)
            if moment.minute or moment.second or moment.microsecond:
                raise InvalidRange(f"the range's {name} must be a whole hour (UTC), not {moment:%Y-%m-%d %H:%M:%S}")
            object.__setattr__(self, name, moment)
        if self.start and self.end and self.start >= self.end:
            raise InvalidRange("the range ends before it starts")

    @classmethod
    def preset(cls, name: str, *, now: datetime | None = None) -> UsageRange:
        """24h: this hour and the 23 before it; Nd: today (UTC) and the N-1 days before; all: everything."""
        now = _utc(now or datetime.now(UTC))
        if name == "all":
            return cls()
        if name == "24h":
            return cls(start=now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23))
        if name in _PRESET_DAYS:
            return cls.last_days(_PRESET_DAYS[name], now=now)
        raise InvalidRange(f"unknown range {name!r}; choose one of {', '.join(PRESETS)}")

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> UsageRange:
        """Today (UTC) and the days-1 whole days before it."""
        today = datetime.combine(_utc(now or datetime.now(UTC)).date(), time(), UTC)
        return cls(start=today - timedelta(days=days - 1))

    @classmethod
    def between_days(cls, first: date, last: date) -> UsageRange:
        """Whole days, both included (UTC)."""
        if last < first:
            raise InvalidRange("the last day is before the first")
        start = datetime.combine(first, time(), UTC)
        return cls(start=start, end=datetime.combine(last, time(), UTC) + timedelta(days=1))

    def describe(self) -> str:
        if not self.start and not self.end:
            return "at any time"
        start = f"from {self.start:%Y-%m-%d %H:%M}" if self.start else ""
        end = f"to {self.end:%Y-%m-%d %H:%M}" if self.end else "to now"
        return f"{start} {end} UTC".strip()


@dataclass(frozen=True)
class UsageFilters:
    """Which models to count; every field optional. active_only matches the seed's query."""

    provider_id: UUID | None = None
    modality: str | None = None
    task: str | None = None
    model_id: UUID | None = None
    active_only: bool = True

    def conditions(self) -> list:
        return q.model_conditions(
            provider_id=self.provider_id,
            modality=self.modality,
            task=self.task,
            model_id=self.model_id,
            active_only=self.active_only,
        )


# The backlog's rule as decide() applied it: the decision, the monthly rollup's first month, and the after-read.
Decided = tuple[usage_folding.Decision, datetime | None, Callable[[], None]]


class UsageService(ActingService):
    """Jobs per model and per day as one person may see them.

    read_db, when given, is a read replica for the heavy reads; folding always goes to db.
    """

    def __init__(self, db: str | Engine, *, user_id: UUID | str | None, read_db: str | Engine | None = None):
        super().__init__(db, user_id=user_id)
        if read_db is None:
            self.read_engine = self.engine
        else:
            self.read_engine = read_db if isinstance(read_db, Engine) else create_db_engine(read_db)

    def by_model(
        self, period: UsageRange = UsageRange(), filters: UsageFilters = UsageFilters(), *, exact: bool = False
    ) -> pd.DataFrame:
        """Per model: total, completed, failed and other jobs, failure rate, ratings; busiest first.

        avg_quality_rating is a float, or with exact=True the database's Decimal (None when unrated).
        """
        source, after = self.source(period, by_day=False)
        with self._transaction(self.read_engine) as conn:
            frame = _per_model(conn, source, filters, exact=exact)
        after()
        return frame

    def by_day(self, period: UsageRange = UsageRange(), filters: UsageFilters = UsageFilters()) -> pd.DataFrame:
        """Jobs per day (UTC) and status, with ratings; days without jobs are absent."""
        source, after = self.source(period, by_day=True)
        with self._transaction(self.read_engine) as conn:
            frame = _per_day(conn, source, filters)
        after()
        return frame

    def report(
        self,
        period: UsageRange = UsageRange(),
        filters: UsageFilters = UsageFilters(),
        *,
        catalogue: pd.DataFrame | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per model, per day) as by_model and by_day give them, read in one transaction; model ids as text.

        catalogue: the models as catalogue() reads them (the page passes the copy it caches per catalogue version,
        spend's BASIS_COLUMNS in place of pricing and input_defaults); read here, in the same transaction, when not
        given. Either way the counts are read now, for the models the filters keep: exact at every call.
        """
        decided = self.decide()  # once for both reads: one look at the backlog, at most one fold
        per_model, after = self.source(period, by_day=False, decided=decided)
        day_counts, _ = self._day_counts(period, decided=decided)
        keep = decided[0].source == "rollups"  # the range's past kept between reports (usage_past), one snapshot
        with self._transaction(self.read_engine, snapshot=keep, lock=q.LOCK_DELTAS if keep else None) as conn:
            models = _matching(_catalogue(conn, filters) if catalogue is None else catalogue, filters)
            kept = models["model_id"].tolist()
            few = len(kept) <= _FEW_MODELS  # else count every model, and leave out in pandas what is not kept
            if kept:
                only = kept if few else None
                counts, past = self._model_counts(conn, period, per_model, decided, keep=keep, only=only)
            else:
                counts, past = pd.DataFrame([], columns=["model_id", *_TOTALS]), None
            counted = set(counts["model_id"].tolist())
            with_jobs, left_out = counted.intersection(kept), counted.difference(kept)
            days = []
            if with_jobs:  # the days of the models kept: listed, or all but those left out, whichever is shorter
                shorter = few or len(with_jobs) <= len(left_out)  # (few: only the kept were counted)
                listed = {"only": sorted(with_jobs)} if shorter else {"without": sorted(left_out)}
                days = None if past is None else usage_past.day_counts(conn, past, **listed)
                if days is None:
                    days = plain_rows(conn.execute(day_counts(**listed)))
        after()
        return _counted(models, counts), _days(days)

    def totals(
        self, period: UsageRange = UsageRange(), *, catalogue: pd.DataFrame | None = None
    ) -> tuple[int, int, int]:
        """(jobs, completed, failed) over the range, of every model this person may see, counted now as report()
        counts them, the range's past kept between calls as report() keeps it (usage_past: the same copy as a report
        of the same range that counts every model). catalogue: as report()'s (only its model_id column is read);
        the ids of the models this person sees are read here when not given."""
        decided = self.decide()
        source, after = self.source(period, by_day=False, decided=decided)
        keep = decided[0].source == "rollups"
        with self._transaction(self.read_engine, snapshot=keep, lock=q.LOCK_DELTAS if keep else None) as conn:
            # tolist(): a set made by iterating this text column element by element took 5.1 ms for 8,543 ids, 0.7
            # ms from its list (the same in report()).
            ids = (
                catalogue["model_id"].tolist() if catalogue is not None else conn.execute(q.VISIBLE_MODEL_IDS).scalars()
            )
            seen = set(ids)
            counts, _ = self._model_counts(conn, period, source, decided, keep=keep)
        after()
        # A mask from a set, not isin: on this text column isin took 114 ms for 10,000 models, the mask about 1 ms.
        counted = counts[np.array([model in seen for model in counts["model_id"].tolist()], dtype=bool)]
        return tuple(int(counted[name].sum()) for name in ("total_jobs", "completed_jobs", "failed_jobs"))

    def _model_counts(
        self,
        conn: sa.Connection,
        period: UsageRange,
        source: sa.FromClause,
        decided: Decided,
        *,
        keep: bool,
        only: list[str] | None = None,
    ) -> tuple[pd.DataFrame, usage_past.Past | None]:
        """q.model_counts' rows over the range as a frame (model_id, then _TOTALS), and the range's past when it came
        from a kept copy (usage_past). keep: conn is one snapshot over the rollups, where a copy may be used."""
        database = self.read_engine.url.render_as_string(hide_password=True)
        past = usage_past.split(conn, database, period.start, period.end) if keep else None
        if past is not None:
            return usage_past.model_counts(conn, past, only=only, first_month=decided[1]), past
        rows = plain_rows(conn.execute(q.model_counts(source, only=only)))
        return pd.DataFrame(rows, columns=["model_id", *_TOTALS]), None

    def counts_of(self, period: UsageRange, model_ids: list[str]) -> dict[str, tuple[int, ...]] | None:
        """Per model listed (ids as text) with jobs in the range: (total, completed, failed, rated, rating_sum), read
        from the rollups as by_model reads them (one read, by a list); None for a reader who cannot read them."""
        decided = self.decide()
        if decided[0].source == "own":
            return None
        source, after = self.source(period, by_day=False, decided=decided)
        rows = []
        if model_ids:
            with self._transaction(self.read_engine) as conn:
                rows = plain_rows(conn.execute(q.model_counts(source, only=model_ids)))
        after()
        return {row[0]: tuple(int(v or 0) for v in row[1:]) for row in rows}

    def catalogue(self) -> pd.DataFrame:
        """Every model this person may see, with what the usage report names, filters and costs them by (of
        input_defaults only the keys spend reads)."""
        with self._transaction(self.read_engine) as conn:
            return _catalogue(conn, spend_defaults_only=True)

    def changes_epoch(self) -> str | None:
        """The catalogue change log's epoch, read before catalogue() when catalogue_since() is to bring it up to
        date later (None: this person may not read the log)."""
        with self._transaction(self.read_engine) as conn:
            return catalogue_changes.epoch(conn)

    def catalogue_since(self, writes: int, epoch: str) -> tuple[pd.DataFrame, frozenset[str]] | None:
        """What catalogue() returns for the models the catalogue's writes after the count writes touched (those this
        person still sees), with their ids; None when only a whole read can say (see catalogue_changes)."""
        with self._transaction(self.read_engine, snapshot=True) as conn:
            changes = catalogue_changes.changed_since(conn, writes, epoch)
            if changes is None:
                return None
            only = [one_of(changes.ids)] if changes.ids else [sa.false()]
            return _catalogue(conn, spend_defaults_only=True, conditions=only), changes.ids

    def seed_stats(self, period: UsageRange = UsageRange()) -> pd.DataFrame:
        """The seed's usage query's columns, rows and order (busiest first), over the range."""
        return self.by_model(period)[model_queries.USAGE_COLUMNS]

    def fold(self) -> int:
        """Fold every pending delta into the rollups (always on the primary); returns how many were folded.

        Two folds: the first takes the delta table writers left at the previous fold and switches them to it,
        the second the one they just left (or nothing, when a writer from before the switch is still open: the
        next fold takes it). Each in a transaction of its own, so the switch is seen before the second.
        """
        folded = 0
        for _ in range(2):
            with self._transaction() as conn:
                folded += int(conn.execute(q.FOLD).scalar_one())
        return folded

    def _backlog(self) -> sa.Row:
        """q.BACKLOG's row: what the two delta tables hold in bytes (dead rows included), jobs' size, the monthly
        rollup's first month, and whether this person reads the rollups."""
        with self._transaction() as conn:
            return conn.execute(q.BACKLOG).one()

    def _held_bytes(self) -> int:
        return int(self._backlog().pending)

    def rebuild(self) -> int:
        """Recount the rollups from jobs (after a bulk load made with the triggers off), laid out by time and
        vacuumed (db/live.py), then fold, so that what the recount dropped is freed too; returns the jobs counted.
        Runs as the server's login role, which must own the schema (an operator's act, like migrating); the fold
        runs as this service's person."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            counted = recount_usage(conn.connection.driver_connection)
        self.fold()
        return counted

    def source(
        self, period: UsageRange, *, by_day: bool, decided: Decided | None = None
    ) -> tuple[sa.FromClause, Callable[[], None]]:
        """What to read, decided by services/usage_folding.py, and what to do once it is read: the rollups with the
        pending deltas, or jobs counted as the seed's query does (either with a fold started in the background after
        the read when the backlog is large, so that the two do not compete), or one's own jobs under RLS. Without
        by_day, the rollups are read by month and all time (migration 0016): rows per model, day null."""
        decision, first_month, after = decided or self.decide()
        if decision.source == "jobs":
            return q.from_jobs_source(period.start, period.end, by_day=by_day), after
        if decision.source == "rollups" and not by_day:
            return q.model_totals_source(period.start, period.end, first_month=first_month), after
        source = q.rollup_source if decision.source == "rollups" else q.jobs_source
        return source(period.start, period.end), after

    def _day_counts(
        self, period: UsageRange, *, decided: Decided | None = None
    ) -> tuple[Callable[..., sa.Select], Callable[[], None]]:
        """day_counts' query for the range as a function of only= / without= (model ids as text), and what to do
        once it is read (as _source): from the rollups, whole days come from the per-day totals of every model
        less the models left out, not from a row per model and day."""
        decision, _, after = decided or self.decide()
        if decision.source == "rollups":
            return functools.partial(q.day_counts_from_totals, period.start, period.end), after
        if decision.source == "jobs":
            return functools.partial(q.day_counts, q.from_jobs_source(period.start, period.end)), after
        return functools.partial(q.day_counts, q.jobs_source(period.start, period.end)), after

    def decide(self) -> Decided:
        """The backlog's rule, the monthly rollup's first month, and the after-read (a fold in the background when the
        rule says so)."""
        backlog = self._backlog()
        decision = usage_folding.decide(
            usage_folding.Backlog(int(backlog.pending), int(backlog.jobs), bool(backlog.admin))
        )
        if decision.source != "own":
            usage_folding.keep_folded(id(self.engine), self.fold)

        def after() -> None:
            if decision.fold_in_background:
                usage_folding.fold_in_background(
                    id(self.engine), functools.partial(usage_folding.fold_until_freed, self.fold, self._held_bytes)
                )

        return decision, backlog.first_month, after


def _per_model(conn: sa.Connection, source: sa.FromClause, filters: UsageFilters, *, exact: bool) -> pd.DataFrame:
    result = conn.execute(q.by_model(source, filters.conditions()))
    return _with_rates(pd.DataFrame(result.all(), columns=list(result.keys())), exact=exact)


def _per_day(conn: sa.Connection, source: sa.FromClause, filters: UsageFilters) -> pd.DataFrame:
    result = conn.execute(q.by_day(source, filters.conditions()))
    return _dated(pd.DataFrame(result.all(), columns=list(result.keys())))


# A job with no status (a live table may allow it) is counted under this in the per-day rows: in total, as the seed's
# COUNT(j.id) counts it, and in neither completed nor failed.
NO_STATUS = "(no status)"


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-day rows with their day as a UTC timestamp, without the rows of jobs that have no creation time (a live
    table may allow it: they count in all time, on no day), a missing status named NO_STATUS."""
    dated = frame["day"].notna()
    if not dated.all():
        frame = frame[dated].reset_index(drop=True)
    frame["day"] = pd.to_datetime(frame["day"], utc=True)
    if frame["status"].isna().any():
        frame["status"] = frame["status"].fillna(NO_STATUS)
    return frame


def _catalogue(
    conn: sa.Connection,
    filters: UsageFilters | None = None,
    *,
    spend_defaults_only: bool = False,
    conditions: list | None = None,
) -> pd.DataFrame:
    conditions = [*(filters.conditions() if filters else []), *(conditions or [])]
    result = conn.execute(q.usage_catalogue(conditions, spend_defaults_only=spend_defaults_only))
    frame = pd.DataFrame(plain_rows(result), columns=list(result.keys()))
    for column in ("pricing", "input_defaults"):  # JSON text (null on a live table without the seed's not null)
        texts = frame[column].fillna("null")
        frame[column] = pd.Series(json.loads(f"[{','.join(texts)}]"), index=frame.index, dtype=object)
    return frame


def _matching(models: pd.DataFrame, filters: UsageFilters) -> pd.DataFrame:
    """The models the filters select: queries.usage.model_conditions' conditions, on a catalogue already read."""
    keep = pd.Series(True, index=models.index)
    if filters.active_only:
        keep &= models["is_active"].astype(bool)
    for column, wanted in (
        ("provider_id", filters.provider_id),
        ("modality", filters.modality),
        ("task", filters.task),
        ("model_id", filters.model_id),
    ):
        if wanted:
            keep &= models[column] == str(wanted)
    return models[keep]


_FEW_MODELS = 500  # up to this many models, counts are read for them only (by a list), not for every model
_TOTALS = list(q.SUM_NAMES)  # model_counts' figures
# by_model's first columns; the catalogue's other ones follow them.
_FIRST_COLUMNS = [
    *("model_id", "display_name", "modality", "task", "provider_name", "is_active"),
    *("total_jobs", "completed_jobs", "failed_jobs", "avg_quality_rating", "rated_jobs", "rating_sum"),
]


def _counted(models: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Every model given with its counts (model_counts' rows: model_id, then _TOTALS), busiest first, as by_model
    gives them."""
    frame = models.merge(counts, on="model_id", how="left")
    for column in _TOTALS:
        frame[column] = frame[column].fillna(0).astype("int64")
    frame["avg_quality_rating"] = frame["rating_sum"] / frame["rated_jobs"].where(frame["rated_jobs"] > 0)
    frame = frame[[*_FIRST_COLUMNS, *(c for c in frame.columns if c not in _FIRST_COLUMNS)]]
    frame = frame.sort_values(["total_jobs", "display_name", "model_id"], ascending=[False, True, True], kind="stable")
    return _with_rates(frame.reset_index(drop=True), exact=False)


def _days(rows: list) -> pd.DataFrame:
    frame = _dated(pd.DataFrame(rows, columns=["day", "status", "jobs", "rated_jobs", "rating_sum"]))
    return frame.astype({"jobs": "int64", "rated_jobs": "int64", "rating_sum": "int64"})


def failure_rate(failed, completed):
    """Failed jobs as a share of finished ones (completed or failed): the one definition used everywhere.

    Queued, processing and cancelled jobs have not failed, nor succeeded. Works on numbers (None when
    nothing finished) and on pandas Series (NaN there).
    """
    if isinstance(failed, pd.Series):
        finished = failed + completed
        return (failed / finished.where(finished > 0)).astype(float)
    finished = failed + completed
    return failed / finished if finished else None


def _with_rates(frame: pd.DataFrame, *, exact: bool) -> pd.DataFrame:
    if not exact:
        frame["avg_quality_rating"] = pd.to_numeric(frame["avg_quality_rating"], errors="coerce").astype(float)
    frame["other_jobs"] = frame["total_jobs"] - frame["completed_jobs"] - frame["failed_jobs"]
    frame["failure_rate"] = failure_rate(frame["failed_jobs"], frame["completed_jobs"])
    return frame


def group_usage(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per-model usage summed by model, provider, modality or task, with rates recomputed from counts."""
    if by not in GROUP_COLUMN:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}")
    column = GROUP_COLUMN[by]
    if by == "model":
        grouped = frame[[column, "provider_name", *COUNT_COLUMNS]].copy()
    else:
        grouped = frame.groupby(column, as_index=False)[list(COUNT_COLUMNS)].sum()
    grouped["failure_rate"] = failure_rate(grouped["failed_jobs"], grouped["completed_jobs"])
    rated = grouped["rated_jobs"].where(grouped["rated_jobs"] > 0)
    grouped["avg_quality_rating"] = (grouped["rating_sum"] / rated).astype(float)
    return grouped.sort_values("total_jobs", ascending=False, kind="stable").reset_index(drop=True)


RATE_COLUMNS = ("failure_rate", "avg_quality_rating")
RATE_DECIMALS = 4


def round_rates(frame: pd.DataFrame, decimals: int = RATE_DECIMALS) -> pd.DataFrame:
    """A copy with its rates (failure rate, average rating) rounded, for files people read: 0.0417, not
    0.041666666666666664. Counts stay exact; screens format rates themselves."""
    rounded = frame.copy()
    for column in RATE_COLUMNS:
        if column in rounded:
            rounded[column] = pd.to_numeric(rounded[column], errors="coerce").astype(float).round(decimals)
    return rounded
