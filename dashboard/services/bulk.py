"""Bulk changes to several models at once, what they do to routing, and reordering a slot's priorities.

A change (activate, deactivate, set a priority, move to another provider) is applied to every selected
model in one transaction, as the person under RLS: either every model changes or none does. Before
that, review() applies the change in memory to the catalogue of the slots it touches and compares
each slot before and after, in the seed's routing order, to say what it does to routing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import Connection

from dashboard.queries import models as q
from dashboard.queries.tables import RULE_COLUMNS, api_models, api_providers, models_with_providers
from dashboard.services.base import ActingService, Row, as_uuid
from dashboard.services.default_slot import lock_for_writing
from dashboard.services.errors import EditConflict, InvalidModel, ModelNotFound, NotAllowed, ProviderNotFound
from dashboard.services.routing_rules import SEVERITY_ORDER, Impact, routing_key, slot_impact, with_name_ranks
from dashboard.services.traffic import Traffic
from dashboard.services.traffic_reads import TrafficService
from dashboard.services.validation import INT4, validate_model_fields, validate_slot

Kind = Literal["activate", "deactivate", "priority", "provider"]
Id = TypeVar("Id", UUID, str)  # a model id, or its text
KINDS: tuple[Kind, ...] = ("activate", "deactivate", "priority", "provider")
MAX_MODELS = 1000  # models one bulk change may name
MAX_SLOT_MODELS = 1_000_000  # models one reorder may name: every model of its slot, however many

_m, _p = api_models, api_providers
_IDS = ARRAY(PG_UUID(as_uuid=True))
# New priorities as two arrays (ids, numbers) unnested into rows: one statement with two parameters, however many
# models a reorder renumbers (a CASE would take two parameters a model, and a statement holds at most 65,535).
_NEW_PRIORITIES = (
    sa.func.unnest(sa.bindparam("ids", type_=_IDS), sa.bindparam("priorities", type_=ARRAY(sa.Integer)))
    .table_valued("id", "priority")
    .render_derived()
)
# Every model of the slots that hold any of :ids, with what routing needs; name_rank is the database's
# order of (display_name, id), the seed's last tie-breakers, so that sorting in memory matches it exactly.
_SLOT_MODELS_OF = (
    sa.select(*RULE_COLUMNS, _m.c.provider_id)
    .select_from(models_with_providers)
    .where(
        sa.tuple_(_m.c.modality, _m.c.task).in_(
            sa.select(_m.c.modality, _m.c.task).where(_m.c.id == sa.any_(sa.bindparam("ids", type_=_IDS)))
        )
    )
    .order_by(_m.c.display_name, _m.c.id)
)
_PROVIDER = sa.select(_p.c.id, _p.c.display_name.label("provider_name"), _p.c.is_active.label("provider_active"))


@dataclass(frozen=True)
class BulkChange:
    """One change for every selected model, checked when it is made (InvalidModel names what is wrong).

    Build it with BulkChange.activate(), .deactivate(), .set_priority(n) or .move_to(provider_id).
    """

    kind: Kind
    priority: int | None = None
    provider_id: UUID | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidModel({"change": f"must be one of {', '.join(KINDS)}"})
        if self.kind == "priority":
            if self.priority is None:
                raise InvalidModel({"priority": "is required: a whole number (lower is preferred)"})
            object.__setattr__(
                self, "priority", validate_model_fields({"priority": self.priority}, partial=True)["priority"]
            )
        elif self.priority is not None:
            raise InvalidModel({"priority": "only goes with the priority change"})
        if self.kind == "provider":
            if self.provider_id is None:
                raise InvalidModel({"provider_id": "is required: pick a provider from the list"})
            object.__setattr__(self, "provider_id", as_uuid(self.provider_id, "provider_id"))
        elif self.provider_id is not None:
            raise InvalidModel({"provider_id": "only goes with the move to another provider"})

    @classmethod
    def activate(cls) -> BulkChange:
        return cls("activate")

    @classmethod
    def deactivate(cls) -> BulkChange:
        return cls("deactivate")

    @classmethod
    def set_priority(cls, priority: Any) -> BulkChange:
        return cls("priority", priority=priority)

    @classmethod
    def move_to(cls, provider_id: Any) -> BulkChange:
        return cls("provider", provider_id=provider_id)

    def values(self) -> dict[str, Any]:
        """The columns this change sets."""
        if self.kind == "priority":
            return {"priority": self.priority}
        if self.kind == "provider":
            return {"provider_id": self.provider_id}
        return {"is_active": self.kind == "activate"}


@dataclass(frozen=True)
class BulkReview:
    """What a change would do: the impact on routing, worst first, and each selected model before and after."""

    change: BulkChange
    impacts: list[Impact] = field(default_factory=list)
    models: list[Row] = field(default_factory=list)  # model, slot, provider, change (in words), changes (bool)
    provider_name: str | None = None  # the provider a move goes to
    traffic: Traffic | None = None  # the jobs it would move, and their spend, failure rate and rating (traffic.py)

    def describe(self) -> str:
        """The change in words, e.g. "Set priority 3 on 2 models", "Move 1 model to fal.ai"."""
        models = f"{len(self.models)} model{'s' if len(self.models) != 1 else ''}"
        if self.change.kind == "priority":
            return f"Set priority {self.change.priority} on {models}"
        if self.change.kind == "provider":
            return f"Move {models} to {self.provider_name}"
        return f"{self.change.kind.capitalize()} {models}"

    @property
    def has_errors(self) -> bool:
        return any(i.severity == "error" for i in self.impacts)


# ─── Pure helpers: a change applied in memory (the rules themselves live in routing_rules) ──────
def changed(model: Mapping[str, Any], change: BulkChange, provider: Mapping[str, Any] | None = None) -> dict:
    """The model after the change; provider (its provider_name and provider_active) for a move."""
    after = {**model, **change.values()}
    if change.kind == "provider":
        if provider is None:
            raise ValueError("a move to another provider needs the provider's name and state")
        after.update(provider_name=provider["provider_name"], provider_active=provider["provider_active"])
    return after


def reordered(models: Iterable[Mapping[str, Any]], ordered_ids: list[UUID]) -> list[dict]:
    """The slot's models in the given order with priorities 1..n (a full renumbering; reorder() writes
    renumbered()'s, which keeps every number it can)."""
    by_id = {m["id"]: m for m in models}
    return [{**by_id[i], "priority": n} for n, i in enumerate(ordered_ids, start=1) if i in by_id]


def reorder_priorities(priorities: Mapping[UUID, int], ordered_ids: Sequence[UUID]) -> dict[UUID, int]:
    """The new priority of each model whose number must change for the slot to route in this order.

    The priorities end strictly increasing along ordered_ids (so the seed's tie-breakers never decide), and as
    many models as possible keep theirs: the longest run of models that already fit, where a model at place i
    with priority p fits when p - i never decreases along the run (that leaves room for the models between) and
    stays within the bounds. The others take numbers in the gaps, spaced like the slot's numbers where there is
    room. Numbers go no lower than 0 (the column's default; or the slot's lowest, if lower) and stay within
    PostgreSQL's integer.
    """
    ids = [i for i in ordered_ids if i in priorities]
    if not ids:
        return {}
    current = [int(priorities[i]) for i in ids]
    low, high, count = min(0, *current), INT4[1], len(ids)
    steps = [b - a for a, b in zip(sorted(set(current)), sorted(set(current))[1:], strict=False)]
    step = min(steps, default=1)
    kept = _longest_fitting_run(current, low=low, high=high)
    new = list(current)
    if not kept:
        spacing = max(1, min(step, (high - low) // max(count - 1, 1)))
        new = [low + i * spacing for i in range(count)]
    else:
        first, last = kept[0], kept[-1]
        spacing = min(step, (current[first] - low) // first) if first else step
        for i in range(first):
            new[i] = current[first] - (first - i) * spacing
        for a, b in zip(kept, kept[1:], strict=False):
            for i in range(a + 1, b):  # evenly between two kept numbers (the run guarantees room)
                new[i] = current[a] + (i - a) * (current[b] - current[a]) // (b - a)
        spacing = min(step, (high - current[last]) // (count - 1 - last)) if last < count - 1 else step
        for i in range(last + 1, count):
            new[i] = current[last] + (i - last) * spacing
    return {model_id: p for model_id, p, old in zip(ids, new, current, strict=True) if p != old}


def _longest_fitting_run(current: list[int], *, low: int, high: int) -> list[int]:
    """The places of the most models that can keep their priority (see reorder_priorities), in order."""
    count = len(current)
    slack = [p - i for i, p in enumerate(current)]
    tails: list[int] = []  # tails[k]: the place ending the best run of length k + 1 found so far
    ends: list[int] = []  # the slack at each of those places (non-decreasing)
    before: dict[int, int | None] = {}
    end = None
    for i, value in enumerate(slack):
        if not low <= value <= high - (count - 1):
            continue
        k = bisect_right(ends, value)
        before[i] = tails[k - 1] if k else None
        tails[k : k + 1], ends[k : k + 1] = [i], [value]
        if k == len(tails) - 1:
            end = i  # the latest place that ends a longest run
    run = []
    while end is not None:
        run.append(end)
        end = before[end]
    return run[::-1]


def renumbered(models: Iterable[Mapping[str, Any]], ordered_ids: list[UUID]) -> list[dict]:
    """The slot's models in the given order with the priorities reorder() would store (reorder_priorities)."""
    by_id = {m["id"]: m for m in models}
    ids = [i for i in ordered_ids if i in by_id]
    new = reorder_priorities({i: by_id[i]["priority"] for i in ids}, ids)
    return [{**by_id[i], "priority": new.get(i, by_id[i]["priority"])} for i in ids]


def moved_to(order: Sequence[Id], places: Mapping[Id, int]) -> list[Id]:
    """order with each model of places at its new place (1 is first), the others keeping their order around them.

    A place beyond either end goes to that end; models given the same place keep their order from before. Ids
    not in order are ignored."""
    position = {model_id: n for n, model_id in enumerate(order)}
    moving = sorted(
        ((place, -position[model_id], model_id) for model_id, place in places.items() if model_id in position),
        key=lambda item: item[:2],
    )
    moved = {model_id for _, _, model_id in moving}
    result = [model_id for model_id in order if model_id not in moved]
    for place, _, model_id in moving:  # lowest place first, so each lands exactly where it was put
        result.insert(min(max(place, 1), len(result) + 1) - 1, model_id)
    return result


def renumbering_note(
    models: Sequence[Mapping[str, Any]], ordered_ids: list[UUID], *, after: list[dict] | None = None
) -> str:
    """What saving this order renumbers, in words; when one model was moved and others change too, why. after is
    renumbered(models, ordered_ids) when the caller has it already."""
    after = renumbered(models, ordered_ids) if after is None else after
    before = {m["id"]: m["priority"] for m in models}
    changed = [m for m in after if m["priority"] != before[m["id"]]]
    if not changed:
        return ""
    text = (
        f"Saving changes {len(changed)} of {len(after)} priorities; the other models keep theirs."
        if len(changed) < len(after)
        else f"Saving changes all {len(after)} priorities."
    )
    moved = _moved_one(list(before), [m["id"] for m in after])
    if moved is not None and len(changed) > 1:
        place = [m["id"] for m in after].index(moved)
        name = {m["id"]: m["display_name"] for m in models}
        above = after[place - 1] if place else None
        below = after[place + 1] if place + 1 < len(after) else None
        if above and below:
            where = (
                f"between {name[above['id']]} ({before[above['id']]}) and {name[below['id']]} ({before[below['id']]})"
            )
        elif below:
            where = f"above {name[below['id']]} ({before[below['id']]}) without going below {min(0, *before.values())}"
        else:
            where = f"below {name[above['id']]} ({before[above['id']]})" if above else ""
        text += f" There is no free priority number {where} for {name[moved]}, so others move with it."
    return text


def _moved_one(before: list[UUID], after: list[UUID]) -> UUID | None:
    """The one model whose move turns before into after, or None when it takes more than one move."""
    # UUIDs compare in Python; their integers in C (a slot may hold 10,000 models).
    ids = before
    before, after = [getattr(i, "int", i) for i in before], [getattr(i, "int", i) for i in after]
    if before == after or len(before) != len(after) or set(before) != set(after):
        return None
    differ = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    first, last = differ[0], differ[-1]
    if after[first] == before[last] and after[first + 1 : last + 1] == before[first:last]:
        return ids[last]  # moved up
    if after[last] == before[first] and after[first:last] == before[first + 1 : last + 1]:
        return ids[first]  # moved down
    return None


def catalogue_impact(
    models: list[Mapping[str, Any]], ids: Collection[UUID], change: BulkChange, provider: Mapping[str, Any] | None
) -> list[Impact]:
    """The change applied in memory to the models of every slot it touches, each slot compared before and
    after; worst first. models holds every model of those slots (the selected ones among them)."""
    selected = set(ids)
    slots: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for model in models:
        slots.setdefault((model["modality"], model["task"]), []).append(model)
    found: list[Impact] = []
    for (modality, task), before in sorted(slots.items()):
        if not any(m["id"] in selected for m in before):
            continue
        after = [changed(m, change, provider) if m["id"] in selected else m for m in before]
        found += slot_impact(f"{modality}/{task}", before, after)
    unchanged = [m for m in models if m["id"] in selected and changed(m, change, provider) == m]
    if unchanged:
        found.append(
            Impact(
                "info",
                "",
                f"{len(unchanged)} of the {len(selected)} selected models "
                f"{_already(change, provider)}: nothing changes for them",
            )
        )
    return sorted(found, key=lambda i: SEVERITY_ORDER[i.severity])


def _already(change: BulkChange, provider: Mapping[str, Any] | None) -> str:
    if change.kind == "priority":
        return f"already have priority {change.priority}"
    if change.kind == "provider":
        return f"are already on {provider['provider_name'] if provider else 'that provider'}"
    return f"are already {'active' if change.kind == 'activate' else 'inactive'}"


def describe_change(model: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """A model's change in words, e.g. "active → inactive", "priority 3 → 1", "Replicate → fal.ai"."""
    parts = []
    if model["is_active"] != after["is_active"]:
        parts.append(f"{_state(model)} → {_state(after)}")
    if model["priority"] != after["priority"]:
        parts.append(f"priority {model['priority']} → {after['priority']}")
    if model["provider_id"] != after["provider_id"]:
        parts.append(f"{model['provider_name']} → {after['provider_name']}")
    return "; ".join(parts) or "no change"


def _state(model: Mapping[str, Any]) -> str:
    return "active" if model["is_active"] else "inactive"


def clean_ids(
    values: Any, what: str = "model_ids", *, allow_empty: bool = False, limit: int = MAX_MODELS
) -> list[UUID]:
    """Model ids from a list of UUIDs or their text, in order, without repeats; InvalidModel for anything else
    (not a list, more than limit, an entry that is not an id). Nothing of the input is echoed back."""
    if isinstance(values, str | bytes) or not isinstance(values, Collection):
        raise InvalidModel({what: "must be a list of model ids"})
    if len(values) > limit:
        raise InvalidModel({what: f"at most {limit:,} models at once; select fewer"})
    if not values and not allow_empty:
        raise InvalidModel({what: "select at least one model"})
    ids = []
    for position, value in enumerate(values, start=1):
        try:
            ids.append(value if isinstance(value, UUID) else UUID(str(value)))
        except (ValueError, TypeError, AttributeError):
            raise InvalidModel({what: f"entry {position} is not a valid model id"}) from None
    return list(dict.fromkeys(ids))


# ─── The service ───────────────────────────────────────────────────────────────────────────
class BulkService(ActingService):
    """Bulk changes and slot reordering as one person (admins only: the database refuses everyone else)."""

    def review(self, model_ids: Any, change: BulkChange) -> BulkReview:
        """What applying change to these models would do, without changing anything.

        ModelNotFound when some of them are not visible (deleted meanwhile); ProviderNotFound for a move to
        a provider that does not exist.
        """
        ids = clean_ids(model_ids)
        with self._transaction() as conn:
            provider = _provider(conn, change)
            models = with_name_ranks(dict(r._mapping) for r in conn.execute(_SLOT_MODELS_OF, {"ids": ids}))
        by_id = {m["id"]: m for m in models}
        _refuse_missing(ids, by_id)
        rows = []
        for model_id in ids:
            model = by_id[model_id]
            after = changed(model, change, provider)
            rows.append(
                {
                    "model": model["display_name"],
                    "slot": f"{model['modality']}/{model['task']}",
                    "provider": model["provider_name"],
                    "change": describe_change(model, after),
                    "changes": after != model,
                }
            )
        selected = set(ids)
        after = [changed(m, change, provider) if m["id"] in selected else m for m in models]
        return BulkReview(
            change=change,
            impacts=catalogue_impact(models, ids, change, provider),
            models=rows,
            provider_name=provider["provider_name"] if provider else None,
            traffic=TrafficService(self.engine, user_id=self.user_id).estimate(models, after),
        )

    def impact(self, model_ids: Any, change: BulkChange) -> list[Impact]:
        """What applying change to these models would do to routing, worst first."""
        return self.review(model_ids, change).impacts

    def apply(self, model_ids: Any, change: BulkChange) -> int:
        """Apply change to every one of these models in one transaction; return how many it changed (a model
        already in that state is left as it is, so its updated_at and history do not move).

        All or nothing: if any model cannot be changed, nothing is. NotAllowed when the database refused
        (RLS: only admins change models), ModelNotFound when some were deleted, EditConflict when one was
        moved to another slot meanwhile, ProviderNotFound for a move to a provider that does not exist.
        """
        ids = clean_ids(model_ids)
        values = change.values()
        column = _m.c[next(iter(values))]
        selected = _m.c.id == sa.any_(sa.bindparam("ids", type_=_IDS))
        with self._transaction() as conn:
            _provider(conn, change)
            # Slot locks before row locks, each in one sorted order, as every writer of defaults does: a concurrent
            # "make default" in these slots, or another bulk change of the same models, waits its turn.
            slots = sorted(
                {tuple(r) for r in conn.execute(sa.select(_m.c.modality, _m.c.task).where(selected), {"ids": ids})}
            )
            lock_for_writing(conn, slots)
            # FOR UPDATE returns only the rows the UPDATE policy lets this person change.
            locked = conn.execute(
                sa.select(_m.c.id, _m.c.modality, _m.c.task, column.label("value"))
                .where(selected)
                .order_by(_m.c.id)
                .with_for_update(),
                {"ids": ids},
            ).all()
            if len(locked) != len(ids):
                # Raising rolls the whole transaction back: nothing is half-written.
                if not conn.execute(q.IS_ADMIN).scalar():
                    raise NotAllowed("Only admins can change models; nothing was changed")
                _refuse_missing(ids, {r.id for r in locked}, writing=True)
            if any((r.modality, r.task) not in slots for r in locked):
                raise EditConflict(
                    "A selected model was moved to another modality or task meanwhile; nothing was "
                    "changed. Review the selection again"
                )
            to_change = [r.id for r in locked if r.value != values[column.name]]
            if not to_change:
                return 0
            written = conn.execute(
                sa.update(_m).where(selected).values(**values).returning(_m.c.id), {"ids": to_change}
            ).all()
            if len(written) != len(to_change):
                raise NotAllowed("Only admins can change models; nothing was changed")
        return len(written)

    def slot_models(self, modality: str, task: str) -> list[Row]:
        """Every model of one slot (inactive ones too, as the person may see them), in the seed's routing order."""
        modality, task = validate_slot(modality, task)
        statement = (
            sa.select(*_SLOT_MODELS_OF.selected_columns)
            .select_from(models_with_providers)
            .where(_m.c.modality == modality, _m.c.task == task)
            .order_by(_m.c.display_name, _m.c.id)
        )
        models = with_name_ranks(self._rows(statement))
        return sorted(models, key=routing_key)

    def reorder(self, modality: str, task: str, ordered_ids: Any, expected_ids: Any | None = None) -> int:
        """Give the slot's models priorities that route them in this order, changing as few as it can
        (reorder_priorities), in one transaction; return how many changed.

        ordered_ids must list every model of the slot once. With expected_ids (the models the person saw),
        EditConflict when the slot's models are no longer those; InvalidModel for a model of another slot.
        """
        modality, task = validate_slot(modality, task)
        slot = f"{modality}/{task}"
        ordered = clean_ids(ordered_ids, "ordered_ids", limit=MAX_SLOT_MODELS)
        if len(ordered) != len(ordered_ids):
            raise InvalidModel({"ordered_ids": "lists a model more than once"})
        expected = (
            None
            if expected_ids is None
            else set(clean_ids(expected_ids, "expected_ids", allow_empty=True, limit=MAX_SLOT_MODELS))
        )
        with self._transaction() as conn:
            if not conn.execute(q.IS_ADMIN).scalar():
                raise NotAllowed("Only admins can change models")
            lock_for_writing(conn, [(modality, task)])
            current = dict(
                conn.execute(
                    sa.select(_m.c.id, _m.c.priority)
                    .where(_m.c.modality == modality, _m.c.task == task)
                    .with_for_update()
                ).all()
            )
            if expected is not None and expected != set(current):
                added, removed = len(set(current) - expected), len(expected - set(current))
                raise EditConflict(
                    f"The models of {slot} changed since you loaded them ({added} added, {removed} "
                    "removed or moved); nothing was saved. Reset and order them again"
                )
            foreign = [i for i in ordered if i not in current]
            if foreign:
                raise InvalidModel({"ordered_ids": f"{len(foreign)} of the models are not in {slot}"})
            if len(ordered) != len(current):
                raise InvalidModel(
                    {"ordered_ids": f"leaves out {len(current) - len(ordered)} model(s) of {slot}; list every one"}
                )
            target = reorder_priorities(current, ordered)  # only the numbers this order needs changed
            if not target:
                return 0
            written = conn.execute(
                sa.update(_m)
                .where(_m.c.id == _NEW_PRIORITIES.c.id)
                .values(priority=_NEW_PRIORITIES.c.priority)
                .returning(_m.c.id),
                {"ids": list(target), "priorities": list(target.values())},
            ).all()
            if len(written) != len(target):
                raise NotAllowed("Only admins can change models; nothing was saved")
        return len(target)


def _provider(conn: Connection, change: BulkChange) -> Row | None:
    """The provider a move goes to (its name and state), or None for other changes."""
    if change.kind != "provider":
        return None
    row = conn.execute(_PROVIDER.where(_p.c.id == change.provider_id)).first()
    if row is None:
        raise ProviderNotFound(f"No provider with id {change.provider_id}; pick one from the list")
    return dict(row._mapping)


def _refuse_missing(ids: list[UUID], found: Collection[UUID], *, writing: bool = False) -> None:
    missing = [i for i in ids if i not in found]
    if missing:
        raise ModelNotFound(
            f"{len(missing)} of the {len(ids)} selected models no longer exist or are not visible "
            f"to you; they may have been deleted{'. Nothing was changed' if writing else ''}"
        )
