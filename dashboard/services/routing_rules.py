"""The seed's routing rules, in memory: no database, no Streamlit.

Every screen and command that says which model takes a slot's jobs, why a model is left out, or what a
change does to a slot asks this module. The routing query itself (queries.models.ROUTING_CANDIDATES, the
seed's text) must agree with it; a test checks the two against each other.

A model here is any mapping with id, display_name, priority, is_default, is_active, provider_active and
provider_name (optionally name_rank: the database's ordering of display_name, when known).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Model = Mapping[str, Any]
Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Impact:
    """One thing a change does to routing: error (a slot's jobs can no longer be routed), warning (a default
    becomes unusable or is passed over), or info (which model a slot now routes to, what stays as it is)."""

    severity: Severity
    slot: str  # "modality/task", or "" for what concerns the change as a whole
    message: str


def can_take_jobs(model: Model) -> bool:
    """The routing query's filter: an active model of an active provider."""
    return bool(model["is_active"] and model["provider_active"])


def exclusion_reason(model: Model) -> str | None:
    """Why a model cannot take jobs, or None when it can."""
    reasons = []
    if not model["is_active"]:
        reasons.append("model inactive")
    if not model["provider_active"]:
        reasons.append(f"provider {model['provider_name']} inactive")
    return " and ".join(reasons) or None


def routing_key(model: Model) -> tuple[Any, ...]:
    """The seed's routing order: priority, is_default DESC, then display_name and id."""
    tie = model["name_rank"] if "name_rank" in model else (model["display_name"], str(model["id"]))
    return (model["priority"], not model["is_default"], tie)


def candidates(models: Iterable[Model]) -> list[Model]:
    """The models that can take the slot's jobs, best first (the first is picked)."""
    return sorted((m for m in models if can_take_jobs(m)), key=routing_key)


def pick(models: Iterable[Model]) -> Model | None:
    """The model a job of the slot goes to, or None when its jobs cannot be routed."""
    ranked = candidates(models)
    return ranked[0] if ranked else None


def tie_at_top(ranked: list[Model]) -> tuple[Model, Model] | None:
    """The first two candidates when the seed's order cannot tell them apart (same priority and default flag)."""
    if len(ranked) > 1 and (ranked[0]["priority"], ranked[0]["is_default"]) == (
        ranked[1]["priority"],
        ranked[1]["is_default"],
    ):
        return ranked[0], ranked[1]
    return None


def slot_impact(slot: str, before: list[Mapping[str, Any]], after: list[Mapping[str, Any]]) -> list[Impact]:
    """What changes for one slot's routing between two states of its models (the same models, changed)."""
    found: list[Impact] = []
    was, now = candidates(before), candidates(after)
    default_before = next((m for m in before if m["is_default"]), None)
    default_after = next((m for m in after if m["is_default"]), None)
    if was and not now:
        reason = "no active model" if not any(m["is_active"] for m in after) else "no model on an active provider"
        found.append(Impact("error", slot, f"{slot} is left with {reason}: its jobs cannot be routed"))
    elif now and not was:
        found.append(Impact("info", slot, f"{slot} can take jobs again: it routes to {now[0]['display_name']}"))
    if default_before is not None and default_after is not None:
        name = default_after["display_name"]
        if default_before["is_active"] and not default_after["is_active"]:
            found.append(Impact("warning", slot, f"The default for {slot} ({name}) becomes inactive"))
        elif default_before["provider_active"] and not default_after["provider_active"]:
            found.append(Impact("warning", slot, f"The default for {slot} ({name}) moves to an inactive provider, "
                                f"{default_after['provider_name']}"))  # fmt: skip
        elif not can_take_jobs(default_before) and can_take_jobs(default_after):
            found.append(Impact("info", slot, f"The default for {slot} ({name}) can take jobs again"))
    if was and now and was[0]["id"] != now[0]["id"]:
        new, old = now[0], was[0]
        passed_over = default_after is not None and can_take_jobs(default_after) and new["id"] != default_after["id"]
        if passed_over and old["id"] == default_after["id"]:
            found.append(Impact("warning", slot, f"{slot} now routes to {new['display_name']} instead of its default "
                                f"{old['display_name']}: {new['display_name']} has a lower priority number "
                                f"({new['priority']} < {default_after['priority']})"))  # fmt: skip
        else:
            found.append(Impact("info", slot, f"{slot} now routes to {new['display_name']} instead of "
                                f"{old['display_name']}"))  # fmt: skip
    tie = tie_at_top(now)
    if tie and tie != tie_at_top(was):
        first, second = tie
        found.append(Impact("warning", slot, f"{first['display_name']} and {second['display_name']} share priority "
                            f"{first['priority']} at the top of {slot}: routing may pick either"))  # fmt: skip
    return found


def change_impact(before: Iterable[Model], after: Iterable[Model]) -> list[Impact]:
    """What a change does to routing, worst first: every slot that holds a model in either state, compared
    before and after. before and after are the models of the touched slots (with modality and task) as they
    are and as they would be; a model may change slot, appear (created) or disappear (deleted)."""
    slots: dict[tuple[str, str], tuple[list[Model], list[Model]]] = {}
    for model in before:
        slots.setdefault((model["modality"], model["task"]), ([], []))[0].append(model)
    for model in after:
        slots.setdefault((model["modality"], model["task"]), ([], []))[1].append(model)
    found: list[Impact] = []
    for (modality, task), (was, now) in sorted(slots.items()):
        found += slot_impact(f"{modality}/{task}", was, now)
    return sorted(found, key=lambda i: SEVERITY_ORDER[i.severity])
