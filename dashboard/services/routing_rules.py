"""The seed's routing rules, in memory: no database, no Streamlit.

Every screen and command that says which model takes a slot's jobs, why a model is left out, or what a
change does to a slot asks this module. The routing query itself (queries.models.ROUTING_CANDIDATES, the
seed's text) must agree with it; a test checks the two against each other.

A model here is any mapping with id, display_name, priority, is_default, is_active, provider_active and
provider_name (optionally name_rank: the database's ordering of display_name and id, when known, or any rank
that agrees with the routing query's ORDER BY on its last tie-breakers; see with_name_ranks).
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


@dataclass(frozen=True)
class Finding:
    """Something about a slot's routing an admin should know: error (its jobs cannot be routed) or warning
    (they can, but not as an admin may think). code is stable (see FINDING_CODES); subject is the model the
    finding is about, when there is one (the default, or the first of a tie)."""

    severity: Severity
    code: str
    slot: str
    message: str
    subject: str | None = None


# Every finding's code, in the order they are looked for; with the few words the Defaults grid shows for it.
FINDING_CODES = {
    "no_model": "no model",
    "no_active_model": "no active model",
    "no_active_provider": "all providers off",
    "no_default": "no default",
    "default_inactive": "inactive",
    "default_provider_inactive": "provider off",
    "default_passed_over": "passed over",
    "tie_at_top": "tie",
}


def slot_findings(slot: str, models: Iterable[Model], *, candidate_count: int | None = None) -> list[Finding]:
    """What an admin should know about one slot (all its models, as they are), worst first: no candidate (no
    model, no active model, or every active model on an inactive provider), no default (when something could
    be one), a default that cannot take jobs or is passed over, and a tie at the top of the routing order.

    models may be only the slot's relevant_models, given how many of all its models can take jobs."""
    models = list(models)
    ranked = candidates(models)
    candidate_count = len(ranked) if candidate_count is None else candidate_count
    found: list[Finding] = []
    if not ranked:
        if not models:
            found.append(Finding("error", "no_model", slot, f"{slot} has no model: its jobs cannot be routed"))
        elif not any(m["is_active"] for m in models):
            found.append(
                Finding("error", "no_active_model", slot, f"{slot} has no active model: its jobs cannot be routed")
            )
        else:
            found.append(
                Finding(
                    "error",
                    "no_active_provider",
                    slot,
                    f"{slot}: every active model is on an inactive provider, so its jobs cannot be routed",
                )
            )
    defaults = sorted((m for m in models if m["is_default"]), key=routing_key)
    if not defaults and ranked:
        found.append(
            Finding("warning", "no_default", slot, f"{slot} has {candidate_count} active model(s) but no default")
        )
    for default in defaults:
        name = default["display_name"]
        if not default["is_active"]:
            found.append(
                Finding("warning", "default_inactive", slot, f"The default for {slot}, {name}, is inactive", name)
            )
        elif not default["provider_active"]:
            found.append(
                Finding(
                    "warning",
                    "default_provider_inactive",
                    slot,
                    f"The default for {slot}, {name}, is on an inactive provider, {default['provider_name']}",
                    name,
                )
            )
        elif ranked[0]["id"] != default["id"]:
            first = ranked[0]
            found.append(
                Finding(
                    "warning",
                    "default_passed_over",
                    slot,
                    f"Routing does not pick the default for "
                    f"{slot}, {name}: {first['display_name']} comes first (a lower priority number, "
                    f"{first['priority']} < {default['priority']})",
                    name,
                )
            )
    tie = tie_at_top(ranked)
    if tie:
        first, second = tie
        found.append(
            Finding(
                "warning",
                "tie_at_top",
                slot,
                f"{first['display_name']} and {second['display_name']} "
                f"share priority {first['priority']} at the top of {slot}: the seed's order leaves the "
                "tie open, so routing may pick either",
                first["display_name"],
            )
        )
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])


def relevant_models(models: Iterable[Model]) -> list[Model]:
    """The models of one slot that its pick and findings depend on: its defaults, and its first two models when
    those that can take jobs come first (in the routing order), then the other active ones (so an active model is
    among them if there is one). queries.catalogue.SLOT_FACTS reads the same ones. slot_findings of these, given
    the slot's candidate count, is slot_findings of all its models."""
    models = list(models)
    first = sorted(models, key=lambda m: (not can_take_jobs(m), not m["is_active"], routing_key(m)))[:2]
    keep = {id(m) for m in first} | {id(m) for m in models if m["is_default"]}
    return [m for m in models if id(m) in keep]


def summary_cell(findings: Iterable[Finding], *, default_name: str | None, candidates: int) -> str:
    """A slot in a few words, for a grid cell: its default and how many models can take its jobs (· N), with a
    leading ⚠ and the first finding's few words when its jobs may not route as an admin expects.

    A tie at the top is left out: with a usable, picked default there is none (the default comes first among
    equals), so a tie only comes with another finding that the cell shows."""
    codes = {f.code: f for f in findings}
    for code, words in FINDING_CODES.items():
        if code not in codes or code == "tie_at_top":
            continue
        if code in ("no_model", "no_active_model", "no_active_provider"):
            return f"⚠ {words}"
        subject = codes[code].subject
        return f"⚠ {words}: {subject} · {candidates}" if subject else f"⚠ {words} · {candidates}"
    return f"{default_name} · {candidates}"


def slot_cell(models: Iterable[Model]) -> str:
    """summary_cell for one slot's models."""
    models = list(models)
    default = min((m for m in models if m["is_default"]), key=routing_key, default=None)
    return summary_cell(
        slot_findings("", models),
        default_name=default["display_name"] if default else None,
        candidates=len(candidates(models)),
    )


def with_name_ranks(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows read in the database's order of (display_name, id), each with its name_rank: sorting them with
    routing_key then breaks ties exactly as the database's ORDER BY (ROUTING_ORDER) does, collation included."""
    return [{**row, "name_rank": n} for n, row in enumerate(rows)]


def by_slot(models: Iterable[Model]) -> dict[tuple[str, str], list[Model]]:
    """Models grouped by (modality, task), in the order they came, slots sorted."""
    slots: dict[tuple[str, str], list[Model]] = {}
    for model in models:
        slots.setdefault((model["modality"], model["task"]), []).append(model)
    return dict(sorted(slots.items()))


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
            found.append(
                Impact(
                    "warning",
                    slot,
                    f"The default for {slot} ({name}) moves to an inactive provider, {default_after['provider_name']}",
                )
            )
        elif not can_take_jobs(default_before) and can_take_jobs(default_after):
            found.append(Impact("info", slot, f"The default for {slot} ({name}) can take jobs again"))
    moved_off_default = False  # the pick moved away from the default: said once, below
    if was and now and was[0]["id"] != now[0]["id"]:
        new, old = now[0], was[0]
        passed_over = default_after is not None and can_take_jobs(default_after) and new["id"] != default_after["id"]
        moved_off_default = passed_over and old["id"] == default_after["id"]
        if moved_off_default:
            found.append(
                Impact(
                    "warning",
                    slot,
                    f"{slot} now routes to {new['display_name']} instead of its default "
                    f"{old['display_name']}: {new['display_name']} has a lower priority number "
                    f"({new['priority']} < {default_after['priority']})",
                )
            )
        else:
            found.append(
                Impact("info", slot, f"{slot} now routes to {new['display_name']} instead of {old['display_name']}")
            )
    if _passed_over(default_after, now) and not _passed_over(default_before, was) and not moved_off_default:
        first = now[0]
        found.append(
            Impact(
                "warning",
                slot,
                f"The default for {slot} ({default_after['display_name']}) is passed "
                f"over: {first['display_name']} comes first (a lower priority number, {first['priority']} "
                f"< {default_after['priority']})",
            )
        )
    tie = tie_at_top(now)
    if tie and tie != tie_at_top(was):
        first, second = tie
        found.append(
            Impact(
                "warning",
                slot,
                f"{first['display_name']} and {second['display_name']} share priority "
                f"{first['priority']} at the top of {slot}: routing may pick either",
            )
        )
    return found


def _passed_over(default: Model | None, ranked: list[Model]) -> bool:
    """The default can take jobs, yet another model comes first."""
    return default is not None and can_take_jobs(default) and bool(ranked) and ranked[0]["id"] != default["id"]


def with_default(models: Iterable[Model], model_id: Any) -> list[dict[str, Any]]:
    """A slot's models once model_id is its default: the seed allows one default per modality and task."""
    return [{**m, "is_default": m["id"] == model_id} for m in models]


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
