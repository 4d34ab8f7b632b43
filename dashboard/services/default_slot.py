"""The one-default-per-slot protocol: every writer that may make a model the default of its (modality, task) goes
through here: the model editor and ModelService, an import, and a restore from History.

A write that makes a model the default, in one transaction:
1. takes the locks in the one order (lock_for_writing: the table, the slots, then the rows: see below);
2. refuses a default that cannot take jobs (refuse_inactive_default, by routing_rules.can_take_jobs);
3. unsets the slot's old default (clear_slot_default), then writes the row. Two statements, never one
   `set is_default = (id = :new)`, which the unique index on (modality, task) where is_default refuses
   when the new row comes first;
4. explains a write that touched no row (explain_zero_rows): not an admin, or the row is gone.
Before it, review_write / after_changes say what it will do to routing, for the person to confirm.

The lock order, so that concurrent writers queue instead of deadlocking. Each transaction that writes api_models
takes: the table, in the mode its writes need (ROW EXCLUSIVE for writers of some rows, what their UPDATE would
take anyway, taken first; SHARE ROW EXCLUSIVE for an import, which holds off every other writer while it plans
and writes); then the default slots it may touch, each once, in sorted order (advisory, for the transaction;
taking one again is a no-op); then the rows, FOR UPDATE, in id order. Before this, an import took the table and
then a slot while a "make default" held that slot and waited for the table: PostgreSQL failed one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from dashboard.queries import models as q
from dashboard.queries import slots as qs
from dashboard.services.base import Row
from dashboard.services.errors import InvalidModel, ModelNotFound, NotAllowed, ServiceError
from dashboard.services.routing_rules import SEVERITY_ORDER, Impact, Model, can_take_jobs, change_impact

RULE_FIELDS = ("display_name", "modality", "task", "priority", "is_default", "is_active", "provider_id")


# ─── Locks ────────────────────────────────────────────────────────────────────────────────────
def lock_for_writing(conn: Connection, slots: Iterable[tuple[str, str]] = (), *, whole_table: bool = False) -> None:
    """The table, then these slots (the lock order above); the caller locks its rows next."""
    conn.execute(qs.WHOLE_TABLE if whole_table else qs.ROWS)
    lock_slots(conn, slots)


def lock_slots(conn: Connection, slots: Iterable[tuple[str, str]]) -> None:
    """The slots alone, for a transaction that already holds the table (a slot it holds already is a no-op)."""
    for modality, task in sorted({(str(m), str(t)) for m, t in slots}):
        conn.execute(qs.LOCK_SLOT, {"modality": modality, "task": task})


# ─── Writing a default ──────────────────────────────────────────────────────────────────────────
def default_refusal(model: Model) -> str | None:
    """Why a model cannot be its slot's default, or None: a default must be able to take jobs."""
    if can_take_jobs(model):
        return None
    if not model["is_active"]:
        return "an inactive model cannot be the default; activate it first"
    return f"its provider {model['provider_name']} is inactive; activate the provider or pick a model of an active one"


def refuse_inactive_default(conn: Connection, values: Mapping[str, Any]) -> None:
    """InvalidModel when values (a model about to be the default, with provider_id) could not take jobs."""
    provider = conn.execute(qs.PROVIDER_RULE_STATE, {"id": values["provider_id"]}).first()
    state = {"is_active": values.get("is_active", True), "provider_active": True, "provider_name": ""}
    if provider is not None:  # no such provider: the insert's foreign key says so
        state.update(provider._mapping)
    problem = default_refusal(state)
    if problem:
        raise InvalidModel({"is_default": problem})


def clear_slot_default(conn: Connection, modality: str, task: str, *, keep: UUID | None) -> Row | None:
    """Unset the slot's default (other than keep) and return it, serialised per slot so concurrent clicks queue."""
    lock_slots(conn, [(modality, task)])  # a no-op if held; after the table lock, as the lock order says
    row = conn.execute(q.UNSET_SLOT_DEFAULT, {"modality": modality, "task": task, "id": keep or UUID(int=0)}).first()
    return dict(row._mapping) if row else None


def take_default(conn: Connection, model: Mapping[str, Any], *, keep: UUID | None) -> Row | None:
    """Steps 2 and 3 for a model about to be written as its slot's default: the default it replaces, if any."""
    refuse_inactive_default(conn, model)
    return clear_slot_default(conn, model["modality"], model["task"], keep=keep)


def explain_zero_rows(conn: Connection, model_id: UUID | None, *, doing: str = "change models") -> ServiceError:
    """Why a write that RLS let through touched no row (RLS hides it rather than failing): the error to raise."""
    if not conn.execute(q.IS_ADMIN).scalar():
        return NotAllowed(f"Only admins can {doing}")
    return ModelNotFound(f"No model with id {model_id}; it may have been deleted")


# ─── What a write does to routing, before it is made ──────────────────────────────────────────────
def after_changes(models: Iterable[Model], changed: Iterable[Model]) -> list[Model]:
    """The slots' models once changed (each a whole model, matched by id, else added) are written: a changed
    model that is a default takes it from every other model of its slot, as the write does."""
    state = {m["id"]: dict(m) for m in models}
    defaults: dict[tuple[str, str], Any] = {}
    for model in changed:
        state[model["id"]] = dict(model)
        if model["is_default"]:
            defaults[(model["modality"], model["task"])] = model["id"]
    for model in state.values():
        holder = defaults.get((model["modality"], model["task"]))
        if holder is not None and model["is_default"] and model["id"] != holder:
            model["is_default"] = False
    return list(state.values())


def slot_changes(before: Iterable[Model], after: Iterable[Model]) -> list[Impact]:
    """What routing_rules does not say: a default gained, handed over or lost, and a model moved between slots."""
    was, after = {m["id"]: m for m in before}, list(after)
    found = []
    for model in after:
        old = was.get(model["id"])
        if old is not None and (old["modality"], old["task"]) != (model["modality"], model["task"]):
            source, target = f"{old['modality']}/{old['task']}", f"{model['modality']}/{model['task']}"
            found.append(
                Impact(
                    "info",
                    target,
                    f"{model['display_name']} moves from {source} to {target}: jobs for {source} no longer reach it",
                )
            )
    old_defaults = {(m["modality"], m["task"]): m for m in was.values() if m["is_default"]}
    new_defaults = {(m["modality"], m["task"]): m for m in after if m["is_default"]}
    for modality, task in sorted({(m["modality"], m["task"]) for m in [*was.values(), *after]}):
        slot = f"{modality}/{task}"
        old, new = old_defaults.get((modality, task)), new_defaults.get((modality, task))
        if new is not None and (old is None or old["id"] != new["id"]):
            replacing = f", replacing {old['display_name']}" if old is not None else ""
            found.append(Impact("info", slot, f"{new['display_name']} becomes the default for {slot}{replacing}"))
        elif old is not None and new is None:
            found.append(
                Impact(
                    "warning", slot, f"{slot} is left without a default: {old['display_name']} stops being its default"
                )
            )
    return found


def review(before: Iterable[Model], after: Iterable[Model]) -> list[Impact]:
    """Everything a change does to its slots, worst first: routing_rules.change_impact and slot_changes."""
    before, after = list(before), list(after)
    return sorted(change_impact(before, after) + slot_changes(before, after), key=lambda i: SEVERITY_ORDER[i.severity])


def review_write(conn: Connection, changes: Mapping[str, Any], *, model_id: UUID | None = None) -> list[Impact]:
    """What writing changes to the model model_id (or adding a model, when there is none such) does to routing."""
    return review(*write_states(conn, changes, model_id=model_id))


def write_states(
    conn: Connection, changes: Mapping[str, Any], *, model_id: UUID | None = None
) -> tuple[list[dict], list[dict]]:
    """The touched slots' models before and after writing changes to model_id (or adding a model, when there is
    none such): the slot it is in and the slot it moves to."""
    row = conn.execute(qs.rule_model(model_id)).first() if model_id is not None else None
    current = dict(row._mapping) if row is not None else None
    base = current or {
        "id": model_id or "new",
        "is_active": True,
        "is_default": False,
        "priority": 0,
        "provider_name": "",
        "provider_active": True,
    }
    model = {**base, **{k: v for k, v in changes.items() if k in RULE_FIELDS}}
    if "provider_id" in changes and (current is None or current["provider_id"] != changes["provider_id"]):
        provider = conn.execute(qs.PROVIDER_RULE_STATE, {"id": changes["provider_id"]}).first()
        if provider is not None:
            model.update(provider._mapping)
    slots = {(model["modality"], model["task"])} | ({(current["modality"], current["task"])} if current else set())
    before = [dict(r._mapping) for r in conn.execute(qs.slot_models(slots))]
    return before, after_changes(before, [model])
