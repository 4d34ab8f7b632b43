"""Health: is each routed slot's model failing, stuck, slow or rated down right now, against its own baseline?

Figures come from the usage rollups (exact at this moment: rollups plus pending deltas, read as UsageService reads
them, folding a large backlog first) and the latency rollups (dashboard.queries.latency), never from a scan of jobs;
the findings from services/health_rules.py. Windows are whole UTC hours, the rollups' grain. Admins and the service
role only: the rollups count every person's jobs, so RLS shows them to no one else (NotAllowed, not an empty report
that would read as "healthy").
"""

from __future__ import annotations

import functools
import heapq
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.queries import catalogue as catalogue_queries
from dashboard.queries import health as hq
from dashboard.queries import latency as lq
from dashboard.queries import usage as q
from dashboard.services import usage_spans
from dashboard.services.base import ActingService
from dashboard.services.catalogue import Picks, picks_of
from dashboard.services.errors import InvalidRange, NotAllowed
from dashboard.services.health_rules import (
    BASELINE_DAYS,
    HealthFinding,
    HealthThresholds,
    ModelHealth,
    assess,
    could_need_attention,
    needs_attention,
)
from dashboard.services.usage import UsageRange, UsageService, failure_rate

WINDOWS = {"1h": "the last hour", "24h": "the last 24 hours"}
_WINDOW_HOURS = {"1h": 1, "24h": 24}

_BY_LIST_MAX = 500  # past this many models, a baseline's latency is read for every model


@dataclass(frozen=True)
class HealthReport:
    window: str
    start: datetime  # window = [start, now): start = this hour's start minus N hours
    end: datetime  # the end of this hour (jobs created later, in the future, are left out)
    baseline_start: datetime  # baseline = [baseline_start, baseline_end): the 7 whole UTC days before start's day
    baseline_end: datetime
    latency_basis: str | None  # 'completed_at', 'status_change', or None when usage is not captured
    latency_precision: str
    models: list[ModelHealth]  # every slot's pick, plus every model with jobs in the window or stuck jobs
    findings: list[HealthFinding]  # worst first
    thresholds: HealthThresholds
    stuck_before: datetime | None = None  # queued or processing jobs created before this are counted as stuck
    left_out: int = 0  # models with jobs in the window that a report asked for in detail=N leaves out (see report)

    @property
    def needs_attention(self) -> bool:
        return bool(self.findings)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON values: {"window", ..., "findings": [...], "slots": [one row per model]}."""
        return {
            "window": self.window,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "baseline_start": self.baseline_start.isoformat(),
            "baseline_end": self.baseline_end.isoformat(),
            "stuck_before": self.stuck_before.isoformat() if self.stuck_before else None,
            "latency_basis": self.latency_basis,
            "latency_precision": self.latency_precision,
            "thresholds": asdict(self.thresholds),
            "needs_attention": self.needs_attention,
            "left_out": self.left_out,
            "findings": [
                {"kind": f.kind, "slot": f.slot, "model": f.model, "routed": f.routed, "message": f.message}
                for f in self.findings
            ],
            "slots": [_model_json(m) for m in self.models],
        }


class HealthService(ActingService):
    """The Health report as one person may read it (admins and the service role)."""

    def __init__(self, db: str | Engine, *, user_id: UUID | str | None, read_db: str | Engine | None = None):
        super().__init__(db, user_id=user_id)
        self._usage = UsageService(self.engine, user_id=user_id, read_db=read_db)

    def report(
        self,
        window: str = "1h",
        *,
        now: datetime | None = None,
        thresholds: HealthThresholds | None = None,
        picks: Picks | None = None,
        detail: int | None = None,
        keep_copies: bool = True,
    ) -> HealthReport:
        """Every routed slot's pick and every model with jobs in the window or stuck jobs, with the findings.

        picks: each routed slot's pick and next in line, as CatalogueService.routed_picks() (or slot_picks() of the
        slots) gives them: a page passes the copy it caches per data version and reader; read here, in the same
        transaction, when not given. The job figures, and the names of the models they concern, are read now
        either way.

        detail: None for every model; N for every pick, every model with a finding and the N busiest of the rest,
        counting the others in left_out. The findings are the same either way: the models whose window allows a
        finding (health_rules.could_need_attention) are judged on their figures first (needs_attention), and only
        the models kept have their names read, so a screen that shows a few rows (the Overview shows findings
        only) does not read the catalogue rows of every model with a job.

        keep_copies: keep what is read of past hours and days for the next reports of this process (usage_spans);
        False for a process that makes one report and exits (it reads what it shows, and nothing in the background)."""
        if window not in WINDOWS:
            raise InvalidRange(f"unknown window {window!r}; choose one of {', '.join(WINDOWS)}")
        thresholds = thresholds or HealthThresholds()
        now = (now or datetime.now(UTC)).astimezone(UTC)
        hour = now.replace(minute=0, second=0, microsecond=0)
        start, end = hour - timedelta(hours=_WINDOW_HOURS[window]), hour + timedelta(hours=1)
        # The baseline is whole UTC days, read from the daily rollups alone: the hours at its edges would cost as
        # much again as the window. It ends where the window's first day begins, so that it is the same all day.
        baseline_end = start.replace(hour=0)
        baseline_start = baseline_end - timedelta(days=BASELINE_DAYS)
        # A job is stuck once the hour it was created in ended stuck_minutes ago or more.
        stuck_before = (now - timedelta(minutes=thresholds.stuck_minutes)).replace(minute=0, second=0, microsecond=0)
        decided = self._usage.decide()  # the backlog's rule, as every usage read follows it
        if decided[0].source == "own":
            raise NotAllowed("Health counts every person's jobs: only admins can see it")

        def source(first: datetime | None, last: datetime, *, by_day: bool = False) -> sa.FromClause:
            return self._usage.source(UsageRange(first, last), by_day=by_day, decided=decided)[0]

        # One snapshot: the copies of past hours and days kept between reports (usage_spans) are checked against
        # versions read with everything else.
        rollups = decided[0].source == "rollups"
        with self._transaction(self._usage.read_engine, snapshot=True, lock=q.LOCK_DELTAS if rollups else None) as conn:
            if picks is None:
                picks = picks_of([dict(r._mapping) for r in conn.execute(catalogue_queries.SLOT_PICKS)])
            spans = None
            if keep_copies and rollups:
                database = self._usage.read_engine.url.render_as_string(hide_password=True)
                spans_of = functools.partial(
                    usage_spans.read,
                    database=database,
                    start=start,
                    hour=hour,
                    end=end,
                    baseline=(baseline_start, baseline_end),
                )

                def warm() -> None:
                    with self._transaction(self._usage.read_engine, snapshot=True, lock=q.LOCK_DELTAS) as own:
                        spans_of(own)

                spans = spans_of(conn, warm=warm)
            stuck = _stuck(conn, source(None, stuck_before), source(None, stuck_before, by_day=True), stuck_before)
            if spans is None:  # read in full: the window, then the baselines of the models it needs (below)
                in_window = usage_spans.tally(
                    conn.execute(q.model_counts(source(start, end))),
                    conn.execute(lq.latency_counts(start, end)),
                )
            else:
                in_window, in_baseline = spans
            window_counts = in_window.with_jobs()
            with_jobs = set(window_counts) | set(stuck)
            could, quiet = _could_need_attention(with_jobs, window_counts, stuck, picks, thresholds, detail)
            routing = set(picks) | {n for n in picks.values() if n}  # each pick and its next in line
            if spans is None:
                needed = sorted(routing | could | quiet)
                in_baseline = usage_spans.tally(
                    conn.execute(q.model_counts(source(baseline_start, baseline_end), only=needed)),
                    conn.execute(lq.latency_counts(baseline_start, baseline_end, only=_listed(needed))),
                )
            flagged = _flagged(could - set(picks), in_window, in_baseline, stuck, thresholds)  # no names yet
            others, left_out = _detailed(flagged, with_jobs, window_counts, picks, detail)
            # The names of every model reported, and of each pick's next in line (quoted in its finding).
            named = _models_by_id(conn, sorted(routing | others))
            basis = conn.execute(lq.LATENCY_BASIS).scalar()
        decided[2]()  # what the backlog's rule does after a read (a fold in the background)
        rows = _rows(picks, named, in_window, in_baseline, stuck, others)
        models, found = assess(rows, thresholds, window=f"in {WINDOWS[window]}", now=now)
        return HealthReport(
            window=window,
            start=start,
            end=end,
            baseline_start=baseline_start,
            baseline_end=baseline_end,
            latency_basis=basis,
            latency_precision=lq.PRECISION,
            models=sorted(models, key=_order),
            findings=found,
            thresholds=thresholds,
            stuck_before=stuck_before,
            left_out=left_out,
        )


# ─── Reads ────────────────────────────────────────────────────────────────────────────────────────
def _models_by_id(conn: sa.Connection, ids: list[str]) -> dict[str, dict]:
    """The catalogue's rule columns of the models given (ids as text) that still exist, read by id: RLS checks
    these rows only, not the whole catalogue."""
    if not ids:
        return {}
    result = conn.execute(hq.models_by_id(ids))
    keys = list(result.keys())
    return {str(row.id): dict(zip(keys, row, strict=True)) for row in result}


def _could_need_attention(
    with_jobs: set[str],
    counts: dict[str, usage_spans.Counts],
    stuck: dict[str, tuple[int, int, datetime | None]],
    picks: dict[str, str | None],
    thresholds: HealthThresholds,
    detail: int | None,
) -> tuple[set[str], set[str]]:
    """(the models whose window alone allows a finding, or every pick; the busiest `detail` of the others, or all of
    them without detail): the models whose baselines a report needs. The busiest models without a finding that a
    report in detail keeps are among these: a model that cannot have one is outdone by fewer others of its kind."""
    could, rest = set(), []
    for model in with_jobs:
        _, completed, failed, rated, _ = counts.get(model, (0, 0, 0, 0, 0))
        queued, processing, _ = stuck.get(model, (0, 0, None))
        if model in picks or could_need_attention(
            completed=completed, failed=failed, rated=rated, stuck=queued + processing, thresholds=thresholds
        ):
            could.add(model)
        else:
            rest.append(model)
    return could, set(rest) if detail is None else _busiest(rest, counts, detail)


def _detailed(
    flagged: set[str],
    with_jobs: set[str],
    counts: dict[str, usage_spans.Counts],
    picks: dict[str, str | None],
    detail: int | None,
) -> tuple[set[str], int]:
    """The models with jobs to report in detail (see report's detail) and how many are left out: every pick, every
    model flagged as needing attention, and the busiest of the rest."""
    if detail is None:
        return with_jobs, 0
    kept = {m for m in with_jobs if m in picks or m in flagged}
    rest = [m for m in with_jobs if m not in kept]
    busiest = _busiest(rest, counts, detail)
    return kept | busiest, len(rest) - len(busiest)


def _busiest(models: list[str], counts: dict[str, usage_spans.Counts], n: int) -> set[str]:
    """The n models with the most jobs in the window (ties by id, so that every report keeps the same ones)."""
    return set(heapq.nsmallest(max(n, 0), models, key=lambda m: (-counts.get(m, (0,))[0], m)))


def _listed(models: list[str]) -> list[str] | None:
    """A list to read by, or None to read every model: past _BY_LIST_MAX, one read of all costs less."""
    return models if len(models) <= _BY_LIST_MAX else None


def _stuck(
    conn: sa.Connection, totals: sa.FromClause, by_day: sa.FromClause, before: datetime
) -> dict[str, tuple[int, int, datetime | None]]:
    """Per model with stuck jobs (queued or processing, created before `before`): (queued, processing, the start of
    the hour the oldest was created in). The counts from per-model totals; the oldest day from the same counts by day
    for those models only (the daily rollup read by model), then its hour from that day's hours."""
    rows = conn.execute(hq.stuck_counts(totals))
    stuck: dict[str, dict[str, int]] = {}
    for model, status, count in rows:
        stuck.setdefault(model, {})[status] = int(count)
    if not stuck:
        return {}
    days = _oldest(conn, by_day, sorted(stuck))
    hours: dict[str, datetime] = {}
    for day in set(days.values()):
        ids = sorted(m for m, d in days.items() if d == day)
        hours |= _oldest(conn, q.hourly_source(day, min(day + timedelta(days=1), before)), ids)
    return {m: (s.get("queued", 0), s.get("processing", 0), hours.get(m)) for m, s in stuck.items()}


def _oldest(conn: sa.Connection, source: sa.FromClause, ids: list[str]) -> dict[str, datetime]:
    """Per model listed, the first day (or hour: the source's day column) with stuck jobs of it."""
    return {model: at.astimezone(UTC) for model, at in conn.execute(hq.oldest_stuck(source, ids))}


# ─── Figures ──────────────────────────────────────────────────────────────────────────────────────
def _rows(
    picks: dict[str, str | None],
    named: dict[str, dict],
    window: usage_spans.Tally,
    baseline: usage_spans.Tally,
    stuck: dict[str, tuple[int, int, datetime | None]],
    others: set[str],
) -> list[ModelHealth]:
    """A ModelHealth for every pick and every other model with jobs in the window or stuck jobs."""
    rows = []
    for model_id in [*picks, *sorted(others - set(picks))]:
        model = named.get(model_id)
        next_id = picks.get(model_id)
        next_model = named.get(next_id) if next_id else None
        rows.append(
            ModelHealth(
                modality=model["modality"] if model else "",
                task=model["task"] if model else "",
                model_id=model_id,
                model=model["display_name"] if model else f"model {model_id} (no longer in the catalogue)",
                provider=model["provider_name"] if model else "",
                routed=model_id in picks,
                next_model=next_model["display_name"] if next_model else None,
                next_failure_rate=_next_rate(next_model, window, baseline),
                **_figures(model_id, window, baseline, stuck),
            )
        )
    return rows


def _figures(
    model_id: str,
    window: usage_spans.Tally,
    baseline: usage_spans.Tally,
    stuck: dict[str, tuple[int, int, datetime | None]],
) -> dict[str, Any]:
    """A model's figures, as ModelHealth holds them (all but its names, its routing and its next in line)."""
    total, completed, failed, rated, rating_sum = window.counts_of(model_id)
    b_total, b_completed, b_failed, b_rated, b_sum = baseline.counts_of(model_id)
    queued, processing, oldest = stuck.get(model_id, (0, 0, None))
    return {
        "jobs": total,
        "completed": completed,
        "failed": failed,
        "failure_rate": failure_rate(failed, completed),
        "baseline_jobs": b_total,
        "baseline_failure_rate": failure_rate(b_failed, b_completed),
        "baseline_finished": b_completed + b_failed,
        "p50_seconds": window.percentile_of(0.5, model_id),
        "p95_seconds": window.percentile_of(0.95, model_id),
        "baseline_p95_seconds": baseline.percentile_of(0.95, model_id),
        "timed": window.timed_of(model_id),
        "baseline_timed": baseline.timed_of(model_id),
        "stuck_jobs": queued + processing,
        "stuck_queued": queued,
        "stuck_processing": processing,
        "stuck_oldest_from": oldest,
        "rated": rated,
        "avg_rating": rating_sum / rated if rated else None,
        "baseline_rated": b_rated,
        "baseline_avg_rating": b_sum / b_rated if b_rated else None,
    }


def _flagged(
    models: set[str],
    window: usage_spans.Tally,
    baseline: usage_spans.Tally,
    stuck: dict[str, tuple[int, int, datetime | None]],
    thresholds: HealthThresholds,
) -> set[str]:
    """The models given that need attention: needs_attention on their figures, before anything is named. Judged on
    the figures alone (a SimpleNamespace of them): a ModelHealth costs several times more to build, and on a busy
    platform 8,500 models are judged over 24 hours."""
    return {m for m in models if needs_attention(SimpleNamespace(**_figures(m, window, baseline, stuck)), thresholds)}


def _next_rate(model: dict | None, window: usage_spans.Tally, baseline: usage_spans.Tally) -> float | None:
    """The next in line's failure rate over the baseline and the window together (it rarely gets jobs)."""
    if model is None:
        return None
    now, before = window.counts_of(str(model["id"])), baseline.counts_of(str(model["id"]))
    return failure_rate(now[2] + before[2], now[1] + before[1])


def _order(model: ModelHealth) -> tuple:
    return (model.status != "attention", model.modality, model.task, not model.routed, -model.jobs, model.model)


def _model_json(model: ModelHealth) -> dict[str, Any]:
    row = asdict(model)
    row["status"] = model.status
    row["reasons"] = list(model.reasons)
    row["stuck_oldest_from"] = model.stuck_oldest_from.isoformat() if model.stuck_oldest_from else None
    for key, value in row.items():  # a p95 beyond the last bucket is infinite: JSON has no such number
        if isinstance(value, float) and not math.isfinite(value):
            row[key] = None
    return row
