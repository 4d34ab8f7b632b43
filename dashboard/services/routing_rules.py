"""The seed's routing rules, in memory: no database, no Streamlit.

Every screen and command that says which model takes a slot's jobs, why a model is left out, or what a
change does to a slot asks this module. The routing query itself (queries.models.ROUTING_CANDIDATES, the
seed's text) must agree with it; a test checks the two against each other.

A model here is any mapping with id, display_name, priority, is_default, is_active, provider_active and
provider_name (optionally name_rank: the database's ordering of display_name, when known).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Model = Mapping[str, Any]


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
