"""An import's defaults and routing: at most one default per slot after it, every default able to take jobs,
and what its writes do to the routing of the slots they touch. The rules are services/default_slot.py's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from dashboard.services.base import Row
from dashboard.services.default_slot import after_changes, default_refusal, review
from dashboard.services.routing_rules import Impact
from dashboard.services.transfer.formats import Key, as_float

if TYPE_CHECKING:
    from dashboard.services.transfer.plan import PlanRow

_UNSEEN_PROVIDER = SimpleNamespace(display_name="(a provider you cannot see)", is_active=False)


def check_defaults(planned: list[PlanRow], existing: dict[Key, list[Row]], providers_by_id: dict) -> None:
    """At most one default per slot after the import; a new default replaces the slot's old one (noted)."""
    final: dict[tuple[str, str], list[tuple[str, PlanRow | None]]] = {}
    touched = {r.model_id for r in planned if r.model_id}
    for rows in existing.values():
        for row in rows:
            if row["id"] not in touched and row["is_default"]:
                final.setdefault((row["modality"], row["task"]), []).append((row["display_name"], None))
    for row in planned:
        if row.status == "error":
            continue
        state = row.after
        if state.get("is_default"):
            final.setdefault((state["modality"], state["task"]), []).append((state["display_name"], row))
            provider = providers_by_id.get(state["provider_id"])
            if row.status != "unchanged" and provider is not None:
                refusal = default_refusal(_rule_model(state, row.model_id or row.where, provider))
                if refusal:
                    row.problems["is_default"] = refusal
    for row in planned:
        if row.problems:
            row.status = "error"
    for (modality, task), holders in final.items():
        from_file = [r for _, r in holders if r is not None]
        if len(from_file) > 1:
            for row in from_file:
                others = ", ".join(r.where for r in from_file if r is not row)
                row.problems["is_default"] = f"{modality}/{task} can have one default; {others} also sets one"
                row.status = "error"
        elif from_file and len(holders) > 1:
            replaced = ", ".join(name for name, r in holders if r is None)
            from_file[0].notes.append(f"replaces {replaced} as the default for {modality}/{task}")


def _rule_model(state: Row, model_id: Any, provider: Any) -> dict[str, Any]:
    """A model as it will be, as routing rules see it (a new model is known by its place in the file)."""
    provider = provider or _UNSEEN_PROVIDER
    return {
        **{k: state.get(k) for k in ("display_name", "modality", "task", "priority", "is_default")},
        "id": model_id,
        "is_active": state.get("is_active", True),
        "provider_name": provider.display_name,
        "provider_active": provider.is_active,
    }


def routing_states(
    planned: list[PlanRow], existing: dict[Key, list[Row]], providers_by_id: dict
) -> tuple[list[Row], list[Row]]:
    """The models of the slots the plan's writes touch, as routing rules see them, before and after the writes
    (each written model with its pricing and input defaults as the file sets them, for the traffic's spend)."""
    writes = [r for r in planned if r.status in ("new", "changed")]
    changed = [
        {
            **_rule_model(r.after, r.model_id or r.where, providers_by_id.get(r.after["provider_id"])),
            **{name: as_float(r.after.get(name)) for name in ("pricing", "input_defaults")},
        }
        for r in writes
    ]
    if not changed:
        return [], []
    slots = {(m["modality"], m["task"]) for m in changed} | {
        (r.current["modality"], r.current["task"]) for r in writes if r.current
    }
    before = [
        _rule_model(m, m["id"], providers_by_id.get(m["provider_id"]))
        for rows in existing.values()
        for m in rows
        if (m["modality"], m["task"]) in slots
    ]
    return before, after_changes(before, changed)


def routing_impacts(states: tuple[list[Row], list[Row]]) -> list[Impact]:
    """What the plan's writes do to the routing of the slots they touch (default_slot.review of routing_states)."""
    before, after = states
    return review(before, after) if after else []
