"""Health findings, in memory: is a model failing, stuck, slow or worse rated than its own baseline? No database,
no Streamlit.

Every screen and command that says a model needs attention (the Health page, the Overview, `python -m dashboard
health` and its webhook) asks this module, from plain figures that services/health.py reads. Messages carry names as
they are in the catalogue: each screen escapes them for where it shows them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from dashboard.services.usage import failure_rate

BASELINE_DAYS = 7
_EPSILON = 1e-9  # thresholds are met at equality, whatever the float arithmetic (0.02 + 0.10 > 0.12)
_KIND_WEIGHT = {"failing": 4.0, "stuck": 3.0, "latency": 2.0, "rating": 1.0}
_ROUTED_WEIGHT = 10.0  # every finding on a slot's pick comes before any on a model that takes no jobs by routing


@dataclass(frozen=True)
class HealthThresholds:
    """When a figure is a finding; read from DASHBOARD_HEALTH_* by dashboard.config (documented in the README)."""

    min_jobs: int = 20  # finished jobs (completed+failed) in the window before any failure/latency finding
    failure_rate: float = 0.25  # a window failure rate at or above this is a finding when there is no baseline
    failure_points: float = 0.10  # ...or when it is this many points above the baseline rate
    failure_factor: float = 2.0  # ...and at least this many times the baseline rate
    stuck_minutes: int = 15  # queued or processing longer than this is stuck
    min_stuck: int = 1  # this many stuck jobs on a model is a finding
    latency_factor: float = 2.0  # p95 at least this many times the baseline p95 (both on >= min_jobs timed jobs)
    min_rated: int = 20  # rated jobs in the window and in the baseline before a rating finding
    rating_drop: float = 0.5  # average rating this much below the baseline


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """One model of one routed slot over a window, against its baseline (the 7 whole UTC days before the window's
    first day)."""

    modality: str
    task: str
    model_id: str
    model: str  # display name
    routed: bool  # this model is the slot's pick (routing_rules.pick)
    next_model: str | None  # the slot's next in line when this is the pick (else None)
    next_failure_rate: float | None  # the next in line's, over the baseline and the window together
    jobs: int
    completed: int
    failed: int
    failure_rate: float | None  # services.usage.failure_rate (the one definition)
    baseline_jobs: int
    baseline_failure_rate: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    baseline_p95_seconds: float | None
    stuck_jobs: int
    stuck_queued: int
    stuck_processing: int
    stuck_oldest_from: datetime | None  # start of the hour the oldest stuck job was created in (UTC)
    rated: int
    avg_rating: float | None
    baseline_rated: int
    baseline_avg_rating: float | None
    reasons: tuple[str, ...] = ()  # one sentence per finding on this model, worst first
    baseline_finished: int = 0  # completed + failed in the baseline: a baseline rate on fewer than min_jobs is none
    timed: int = 0  # completed jobs with a duration in the window (what p50 and p95 are of)
    baseline_timed: int = 0
    provider: str = ""

    @property
    def slot(self) -> str:
        return f"{self.modality}/{self.task}"

    @property
    def status(self) -> Literal["ok", "attention"]:
        return "attention" if self.reasons else "ok"


@dataclass(frozen=True)
class HealthFinding:
    kind: Literal["failing", "stuck", "latency", "rating"]
    slot: str  # "modality/task"
    model: str
    routed: bool
    message: str
    weight: float  # orders findings worst first: routed before not, failing > stuck > latency > rating, then size


def with_failure_rate(model: ModelHealth, *, completed: int, failed: int) -> ModelHealth:
    """model with these window counts and their failure rate (the one definition)."""
    return replace(model, completed=completed, failed=failed, failure_rate=failure_rate(failed, completed))


def could_need_attention(*, completed: int, failed: int, rated: int, stuck: int, thresholds: HealthThresholds) -> bool:
    """Whether a model with these window counts can have any finding, whatever its baseline and latency: each kind
    needs enough finished jobs, rated jobs or stuck jobs in the window first. A report leaves the figures of a model
    that cannot out of its detail (services/health.py), so this must hold for every rule below (tested so)."""
    return (
        _enough(completed + failed, thresholds.min_jobs)
        or _enough(rated, thresholds.min_rated)
        or _enough(stuck, thresholds.min_stuck)
    )


def needs_attention(model: ModelHealth, thresholds: HealthThresholds) -> bool:
    """Whether model_findings finds anything on the model: the same rules, without the messages (which name the
    model), so that a report can judge every model before it reads the names of those it shows."""
    return (
        is_failing(model, thresholds)
        or is_stuck(model, thresholds)
        or is_slow(model, thresholds)
        or rates_worse(model, thresholds)
    )


def _enough(count: int, minimum: int) -> bool:
    """At least minimum, and at least one: no finding is ever made on nothing."""
    return count >= max(1, minimum)


def is_failing(model: ModelHealth, thresholds: HealthThresholds) -> bool:
    """Enough finished jobs in the window, and a failure rate well above the model's own baseline (or, without one
    on enough jobs, at or above the absolute threshold)."""
    rate = model.failure_rate
    if rate is None or not _enough(model.completed + model.failed, thresholds.min_jobs):
        return False
    if not _has_baseline(model, thresholds):
        return rate + _EPSILON >= thresholds.failure_rate
    base = model.baseline_failure_rate or 0.0
    return rate + _EPSILON >= base + thresholds.failure_points and rate + _EPSILON >= base * thresholds.failure_factor


def is_stuck(model: ModelHealth, thresholds: HealthThresholds) -> bool:
    return _enough(model.stuck_jobs, thresholds.min_stuck)


def is_slow(model: ModelHealth, thresholds: HealthThresholds) -> bool:
    """p95 at least latency_factor times the baseline's, both of at least min_jobs timed jobs."""
    now, base = model.p95_seconds, model.baseline_p95_seconds
    if now is None or not base or not _enough(min(model.timed, model.baseline_timed), thresholds.min_jobs):
        return False
    return now + _EPSILON >= base * thresholds.latency_factor


def rates_worse(model: ModelHealth, thresholds: HealthThresholds) -> bool:
    """The average rating fell by rating_drop or more, both averages of at least min_rated rated jobs."""
    now, base = model.avg_rating, model.baseline_avg_rating
    if now is None or base is None or not _enough(min(model.rated, model.baseline_rated), thresholds.min_rated):
        return False
    return now <= base - thresholds.rating_drop + _EPSILON


def model_findings(
    model: ModelHealth, thresholds: HealthThresholds, *, window: str, now: datetime
) -> list[HealthFinding]:
    """What needs attention on one model, worst first; window says the window for people ("in the last hour")."""
    found = []
    if is_failing(model, thresholds):
        excess = (model.failure_rate or 0.0) - (model.baseline_failure_rate or 0.0)
        found.append(_finding(model, "failing", _failing_message(model, thresholds, window), max(0.0, excess)))
    if is_stuck(model, thresholds):
        found.append(_finding(model, "stuck", _stuck_message(model, now), 1 - 1 / (1 + model.stuck_jobs)))
    if is_slow(model, thresholds):
        ratio = (model.p95_seconds or 0.0) / (model.baseline_p95_seconds or 1.0)
        found.append(_finding(model, "latency", _latency_message(model), 1 - 1 / max(ratio, 1.0)))
    if rates_worse(model, thresholds):
        drop = (model.baseline_avg_rating or 0.0) - (model.avg_rating or 0.0)
        found.append(_finding(model, "rating", _rating_message(model, window), drop / 5))
    return sorted(found, key=lambda f: -f.weight)


def assess(
    models: Iterable[ModelHealth], thresholds: HealthThresholds, *, window: str, now: datetime
) -> tuple[list[ModelHealth], list[HealthFinding]]:
    """Every model with its reasons, and every finding, worst first (ties in the order the models came)."""
    assessed, found = [], []
    for model in models:
        own = model_findings(model, thresholds, window=window, now=now)
        assessed.append(replace(model, reasons=tuple(f.message for f in own)) if own else model)
        found += own
    return assessed, sorted(found, key=lambda f: -f.weight)


def percent(rate: float | None) -> str:
    """A rate for people: 38%, 0.4% (not 0%), 99.6% (not 100%), 'no jobs' for none."""
    if rate is None or math.isnan(rate):
        return "no jobs"
    share = rate * 100
    whole = math.floor(share + 0.5)
    if (whole == 0 and share > 0) or (whole == 100 and share < 100):
        tenth = math.floor(share * 10 + 0.5) / 10
        if tenth <= 0:
            return "under 0.1%"
        if tenth >= 100:
            return "over 99.9%"
        return f"{tenth:.1f}%"
    return f"{whole}%"


def duration(seconds: float | None) -> str:
    """A duration for people: 0.42 s, 2.4 s, 41 s, 47 min, 3.1 h."""
    if seconds is None:
        return "no durations"
    if math.isinf(seconds):
        return "beyond the longest duration measured"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 10:
        return f"{_half_up(seconds, 1):.1f} s"
    if seconds < 120:
        return f"{_half_up(seconds, 0):.0f} s"
    if seconds < 7200:
        return f"{_half_up(seconds / 60, 0):.0f} min"
    return f"{_half_up(seconds / 3600, 1):.1f} h"


def _half_up(value: float, digits: int) -> float:
    scale = 10**digits
    return math.floor(value * scale + 0.5) / scale


def _has_baseline(model: ModelHealth, thresholds: HealthThresholds) -> bool:
    return model.baseline_failure_rate is not None and model.baseline_finished >= thresholds.min_jobs


def _finding(model: ModelHealth, kind: str, message: str, size: float) -> HealthFinding:
    weight = (_ROUTED_WEIGHT if model.routed else 0.0) + _KIND_WEIGHT[kind] + min(max(size, 0.0), 0.999)
    return HealthFinding(kind, model.slot, model.model, model.routed, message, weight)  # type: ignore[arg-type]


def _failing_message(model: ModelHealth, thresholds: HealthThresholds, window: str) -> str:
    if _has_baseline(model, thresholds):
        baseline = f"baseline {percent(model.baseline_failure_rate)}"
    else:
        finished = model.baseline_finished
        baseline = (
            f"no baseline: {finished:,} finished job{'' if finished == 1 else 's'} in the {BASELINE_DAYS} days before"
        )
    rate = f"failing {percent(model.failure_rate)} {window} ({baseline})"
    if not model.routed:
        return f"{model.model} ({model.slot}, not the pick) is {rate}"
    if model.next_model is None:
        after = "nothing is next in line"
    elif model.next_failure_rate is None:
        after = f"next in line {model.next_model} has no history"
    else:
        after = f"next in line {model.next_model} fails {percent(model.next_failure_rate)}"
    return f"{model.slot} routes to {model.model}, {rate}; {after}"


def _stuck_message(model: ModelHealth, now: datetime) -> str:
    count = f"{model.stuck_jobs:,} job{'' if model.stuck_jobs == 1 else 's'} stuck"
    if model.stuck_queued and model.stuck_processing:
        what = f"{count} on {model.model} ({model.stuck_processing:,} processing, {model.stuck_queued:,} queued)"
    elif model.stuck_queued:
        what = f"{count} in the queue on {model.model}"
    else:
        what = f"{count} in processing on {model.model}"
    oldest = model.stuck_oldest_from
    if oldest is None:
        return what
    day = "" if oldest.date() == now.date() else f"{oldest:%Y-%m-%d} "
    end = oldest + timedelta(hours=1)
    until = "24:00" if end.date() != oldest.date() else f"{end:%H:%M}"
    return f"{what}, oldest created {day}{oldest:%H:%M}-{until} UTC"


def _latency_message(model: ModelHealth) -> str:
    now, base = model.p95_seconds or 0.0, model.baseline_p95_seconds or 0.0
    if math.isinf(now):
        return f"p95 latency of {model.model} {duration(now)} (baseline {duration(base)})"
    ratio = _half_up(now / base, 1)
    return f"p95 latency of {model.model} {ratio:.1f}x its baseline ({duration(now)} against {duration(base)})"


def _rating_message(model: ModelHealth, window: str) -> str:
    return (
        f"average rating of {model.model} fell to {model.avg_rating:.1f} from {model.baseline_avg_rating:.1f} "
        f"({model.rated:,} rated jobs {window}, {model.baseline_rated:,} in the {BASELINE_DAYS} days before)"
    )
