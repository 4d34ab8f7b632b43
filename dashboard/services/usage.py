"""Usage and failure analytics: jobs per model and per day over a date range, exact and fast.

Admins (and the service role) read the rollups that migrations 0005-0013 keep up to date by trigger, folding
the backlog first or reading jobs instead when it is large (services/usage_folding.py); anyone else counts the
jobs RLS shows them, one by one, exactly as the seed's query would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.database import create_db_engine
from dashboard.queries import models as model_queries
from dashboard.queries import usage as q
from dashboard.services import usage_folding
from dashboard.services.base import ActingService
from dashboard.services.errors import InvalidRange

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
        source, after = self._source(period, by_day=False)
        with self._transaction(self.read_engine) as conn:
            frame = _per_model(conn, source, filters, exact=exact)
        after()
        return frame

    def by_day(self, period: UsageRange = UsageRange(), filters: UsageFilters = UsageFilters()) -> pd.DataFrame:
        """Jobs per day (UTC) and status, with ratings; days without jobs are absent."""
        source, after = self._source(period, by_day=True)
        with self._transaction(self.read_engine) as conn:
            frame = _per_day(conn, source, filters)
        after()
        return frame

    def report(
        self, period: UsageRange = UsageRange(), filters: UsageFilters = UsageFilters()
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """by_model and by_day read in one transaction, so the totals and the days agree to the job."""
        source, after = self._source(period, by_day=True)
        with self._transaction(self.read_engine) as conn:
            frames = _per_model(conn, source, filters, exact=False), _per_day(conn, source, filters)
        after()
        return frames

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

    def rebuild(self) -> int:
        """Recount the rollups from jobs (after a bulk load made with the triggers off), then fold, so that what
        the recount dropped is freed too; returns the jobs counted. Runs as the server's login role, which must
        own the schema (an operator's act, like migrating); the fold runs as this service's person."""
        with self.engine.begin() as conn:
            counted = int(conn.execute(q.REBUILD).scalar_one())
        self.fold()
        return counted

    def _source(self, period: UsageRange, *, by_day: bool) -> tuple[sa.FromClause, Callable[[], None]]:
        """What to read, decided by services/usage_folding.py, and what to do once it is read: the rollups
        (folded first when the backlog asks for it), jobs counted as the seed's query does (with a fold started
        in the background after the read, so that the two do not compete), or one's own jobs under RLS."""
        with self._transaction() as conn:
            backlog = conn.execute(q.BACKLOG).one()
        decision = usage_folding.decide(
            usage_folding.Backlog(int(backlog.pending), int(backlog.jobs), bool(backlog.admin))
        )
        if decision.fold_now:
            self.fold()
        if decision.source != "own":
            usage_folding.keep_folded(id(self.engine), self.fold)

        def after() -> None:
            if decision.fold_in_background:
                usage_folding.fold_in_background(id(self.engine), self.fold)

        if decision.source == "jobs":
            return q.from_jobs_source(period.start, period.end, by_day=by_day), after
        source = q.rollup_source if decision.source == "rollups" else q.jobs_source
        return source(period.start, period.end), after


def _per_model(conn: sa.Connection, source: sa.FromClause, filters: UsageFilters, *, exact: bool) -> pd.DataFrame:
    result = conn.execute(q.by_model(source, filters.conditions()))
    return _with_rates(pd.DataFrame(result.all(), columns=list(result.keys())), exact=exact)


def _per_day(conn: sa.Connection, source: sa.FromClause, filters: UsageFilters) -> pd.DataFrame:
    result = conn.execute(q.by_day(source, filters.conditions()))
    frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    frame["day"] = pd.to_datetime(frame["day"], utc=True)
    return frame


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
