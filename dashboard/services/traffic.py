"""What a routing change does to real traffic, as arithmetic: no database, no Streamlit.

The rule, for every slot (modality x task) a change touches:
- Traffic is the jobs created in the last 7 whole days: the 168 whole hours before this hour (UTC), counted per
  model from the usage rollups; per day is that count / 7. A job belongs to the slot its model is in now.
- Today a slot's jobs go to its pick (routing_rules.pick): the jobs of its pick, and the jobs of any model that
  cannot take jobs now (they would go to the pick today). Every other model that can take jobs keeps its own:
  they were asked for by name, or are fallbacks.
- After the change, the pick's jobs go to the new pick (the same model when the pick does not change), and so do
  the jobs of a model that can no longer take them in the slot (deactivated, provider off, moved to another slot,
  deleted). A slot left without a pick cannot route them: they go to "no model".
- Spend per day counts completed jobs (services/spend.BILLED_STATUS) at each model's cost per job (spend.cost_basis,
  price x units per job), per currency; a model that receives jobs and cannot be costed is named, never counted
  as zero. Completed jobs move with the jobs they belong to (a job that completed is assumed to complete where it
  goes).
- Failure rate and rating: each model that receives jobs brings its own observed figures over the same 7 days
  (usage.failure_rate, the one definition; the average rating of its rated jobs), mixed by the jobs it receives.
  A model with no finished (or no rated) job in the window has "no history": it is named and left out of the mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.services.routing_rules import Model, can_take_jobs, pick
from dashboard.services.spend import CostBasis
from dashboard.services.usage import failure_rate

DAYS = 7
CANNOT_ROUTE = "no model: cannot be routed"
NO_HISTORY = "no history"


def window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end): the 168 whole hours (UTC) before the hour now is in."""
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(days=DAYS), end


@dataclass(frozen=True)
class Counts:
    """One model's jobs created in the window: all of them, completed, failed, rated, and the ratings' sum."""

    jobs: int = 0
    completed: int = 0
    failed: int = 0
    rated: int = 0
    rating_sum: int = 0

    @property
    def failure_rate(self) -> float | None:
        return failure_rate(self.failed, self.completed)

    @property
    def rating(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None


@dataclass(frozen=True)
class Move:
    """Jobs (over the window) of one slot that would go to target instead of source (model names)."""

    slot: str
    source: str
    target: str
    jobs: int

    @property
    def per_day(self) -> float:
        return self.jobs / DAYS


@dataclass(frozen=True)
class Outlook:
    """One side (before or after the change) of one slot's traffic: where its jobs go and what that comes to."""

    jobs_by_target: dict[str, int]  # model name -> jobs over the window (CANNOT_ROUTE for no model)
    spend: dict[str, float]  # per currency, per day
    uncostable: tuple[str, ...]  # models that receive jobs and cannot be costed
    failure_rate: float | None
    failure_unknown: tuple[str, ...]  # models that receive jobs with no finished job in the window
    rating: float | None
    rating_unknown: tuple[str, ...]

    @property
    def unroutable(self) -> int:
        return self.jobs_by_target.get(CANNOT_ROUTE, 0)

    def describe_spend(self) -> str:
        parts = [f"{amount:,.2f} {currency}" for currency, amount in sorted(self.spend.items())]
        text = " + ".join(parts) or ("0" if not self.uncostable else "")
        if self.uncostable:
            text += (" + " if text else "") + ", ".join(f"{n} (cannot be costed)" for n in self.uncostable)
        return text

    def describe_failure(self) -> str:
        return _describe(self.failure_rate, self.failure_unknown, lambda r: f"{r:.1%}")

    def describe_rating(self) -> str:
        return _describe(self.rating, self.rating_unknown, lambda r: f"{r:.2f}")


def _describe(value: float | None, unknown: tuple[str, ...], shown) -> str:
    if value is None:
        return NO_HISTORY
    return shown(value) + (f" ({NO_HISTORY}: {', '.join(unknown)})" if unknown else "")


@dataclass(frozen=True)
class SlotTraffic:
    slot: str
    jobs: int  # the slot's jobs over the window
    moves: tuple[Move, ...]
    before: Outlook
    after: Outlook


@dataclass(frozen=True)
class Traffic:
    """What a change does to the traffic of every slot it touches. note: why there are no figures (None if any)."""

    start: datetime | None = None
    end: datetime | None = None
    slots: tuple[SlotTraffic, ...] = ()
    note: str | None = None

    @property
    def moves(self) -> tuple[Move, ...]:
        return tuple(m for s in self.slots for m in s.moves)

    @property
    def moving(self) -> tuple[SlotTraffic, ...]:
        """The slots some of whose jobs would move."""
        return tuple(s for s in self.slots if s.moves)

    def describe_window(self) -> str:
        if self.start is None or self.end is None:
            return ""
        return f"the last {DAYS} days' jobs ({self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC), per day"

    def lines(self) -> list[str]:
        """The figures in plain text (the CLI's dry run)."""
        if self.note:
            return [f"traffic: {self.note}"]
        if not self.moves:
            return [f"traffic: no jobs move, from {self.describe_window()}"]
        lines = [f"traffic, from {self.describe_window()}:"]
        for slot in self.moving:
            lines += [
                f"  {slot.slot}: {m.per_day:,.4g} jobs/day move from {m.source} to {m.target}" for m in slot.moves
            ]
            for what, before, after in (
                ("spend/day", slot.before.describe_spend(), slot.after.describe_spend()),
                ("failure rate", slot.before.describe_failure(), slot.after.describe_failure()),
                ("rating", slot.before.describe_rating(), slot.after.describe_rating()),
            ):
                lines.append(f"  {slot.slot}: {what} {before} -> {after}")
        return lines


def estimate(
    before: Iterable[Model],
    after: Iterable[Model],
    counts: Mapping[str, Counts],
    costs: Mapping[str, CostBasis],
    *,
    costs_after: Mapping[str, CostBasis] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Traffic:
    """The rule above over the touched slots' models as they are and as they would be (as routing_rules'
    change_impact takes them); counts and costs per model id as text (a model missing from them has no jobs and
    cannot be costed); costs_after when the change reprices models (an import), else costs."""
    slots: dict[tuple[str, str], tuple[list[Model], list[Model]]] = {}
    for model in before:
        slots.setdefault((model["modality"], model["task"]), ([], []))[0].append(model)
    for model in after:
        slots.setdefault((model["modality"], model["task"]), ([], []))[1].append(model)
    found = tuple(
        _slot(f"{modality}/{task}", was, now, counts, costs, costs if costs_after is None else costs_after)
        for (modality, task), (was, now) in sorted(slots.items())
    )
    return Traffic(start=start, end=end, slots=found)


def _slot(
    slot: str,
    before: list[Model],
    after: list[Model],
    counts: Mapping[str, Counts],
    costs: Mapping[str, CostBasis],
    costs_after: Mapping[str, CostBasis],
) -> SlotTraffic:
    was, now = pick(before), pick(after)
    now_by_id = {str(m["id"]): m for m in after}
    routes_before: list[tuple[Model | None, Counts]] = []
    routes_after: list[tuple[Model | None, Counts]] = []
    moved: dict[tuple[str, str], int] = {}
    for model in before:
        own = counts.get(str(model["id"]), Counts())
        follows_pick = (was is not None and model["id"] == was["id"]) or not can_take_jobs(model)
        target_before = was if follows_pick else model
        later = now_by_id.get(str(model["id"]))
        stays = not follows_pick and later is not None and can_take_jobs(later)
        target_after = later if stays else now
        routes_before.append((target_before, own))
        routes_after.append((target_after, own))
        if own.jobs and _id(target_before) != _id(target_after):
            key = (_name(target_before), _name(target_after))
            moved[key] = moved.get(key, 0) + own.jobs
    moves = tuple(Move(slot, source, target, jobs) for (source, target), jobs in moved.items())
    return SlotTraffic(
        slot=slot,
        jobs=sum(own.jobs for _, own in routes_before),
        moves=moves,
        before=_outlook(routes_before, counts, costs),
        after=_outlook(routes_after, counts, costs_after),
    )


def _id(model: Model | None) -> str | None:
    return None if model is None else str(model["id"])


def _name(model: Model | None) -> str:
    return CANNOT_ROUTE if model is None else str(model["display_name"])


@dataclass
class _Received:
    model: Model
    jobs: int = 0
    completed: int = 0


def _outlook(
    routes: list[tuple[Model | None, Counts]], counts: Mapping[str, Counts], costs: Mapping[str, CostBasis]
) -> Outlook:
    received: dict[str | None, _Received] = {}
    jobs_by_target: dict[str, int] = {}
    for target, own in routes:
        if not own.jobs:
            continue
        jobs_by_target[_name(target)] = jobs_by_target.get(_name(target), 0) + own.jobs
        if target is not None:
            into = received.setdefault(_id(target), _Received(target))
            into.jobs += own.jobs
            into.completed += own.completed
    spend: dict[str, float] = {}
    uncostable = []
    failures = _Mix()
    ratings = _Mix()
    for model_id, into in received.items():
        name = _name(into.model)
        cost = costs.get(model_id)
        if cost is None or not cost.costed:
            uncostable.append(name)
        elif into.completed:
            spend[cost.currency] = (
                spend.get(cost.currency, 0.0) + into.completed * cost.units_per_job * cost.price / DAYS
            )
        own = counts.get(model_id, Counts())
        failures.add(name, into.jobs, own.failure_rate)
        ratings.add(name, into.jobs, own.rating)
    return Outlook(
        jobs_by_target=jobs_by_target,
        spend=spend,
        uncostable=tuple(uncostable),
        failure_rate=failures.value,
        failure_unknown=tuple(failures.unknown),
        rating=ratings.value,
        rating_unknown=tuple(ratings.unknown),
    )


@dataclass
class _Mix:
    """A figure mixed over models, weighted by the jobs each receives; models without the figure named."""

    weighted: float = 0.0
    weight: int = 0
    unknown: list[str] = field(default_factory=list)

    def add(self, name: str, jobs: int, value: Any) -> None:
        if value is None:
            self.unknown.append(name)
            return
        self.weighted += jobs * value
        self.weight += jobs

    @property
    def value(self) -> float | None:
        return self.weighted / self.weight if self.weight else None
