"""Routing preview: what the platform's job routing would do for a modality and task, and why.

The ranking is the seed's routing query's (ModelService.routing_candidates), computed by routing_rules from one
read of the slot's models, which a test checks against the query on random catalogues; the query's own row is read
for the pick only. This module adds what the query leaves out: each model's priority and default flag, the models
excluded with the reason, and the findings an admin should act on (routing_rules.slot_findings, as every screen
shows them).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

import pandas as pd
import sqlalchemy as sa

from dashboard.queries import routing as q
from dashboard.queries.tables import api_models
from dashboard.services import routing_rules as rules
from dashboard.services.base import ActingService, Row
from dashboard.services.routing_rules import Finding, exclusion_reason
from dashboard.services.validation import validate_slot
from dashboard.text import visible


@dataclass(frozen=True)
class RoutedModel:
    """One model of a slot as routing sees it: its rank when it can take jobs, else why not."""

    id: UUID
    display_name: str
    model_key: str
    provider_name: str  # the provider's display name, as every screen shows it
    priority: int
    is_default: bool
    rank: int | None = None
    reason: str | None = None
    provider_key: str = ""  # the provider's name (its identifier, as the CLI's options take it)


@dataclass(frozen=True)
class RoutingPreview:
    """The ranked candidates (the first is picked, the rest are the fallback order) and the excluded."""

    modality: str
    task: str
    candidates: list[RoutedModel] = field(default_factory=list)
    excluded: list[RoutedModel] = field(default_factory=list)
    picked_row: Row | None = None  # the seed query's row for the pick: input defaults, capabilities, pricing
    warnings: list[Finding] = field(default_factory=list)  # routing_rules.slot_findings, worst first
    # Every model of the slot with the rule columns, in routing order: what the preview was built from (its name_rank
    # ranks within what was read, so two previews of the same slot compare by what they say, not by this).
    models: list[Row] = field(default_factory=list, compare=False, repr=False)

    @property
    def slot(self) -> str:
        return f"{self.modality}/{self.task}"

    @property
    def picked(self) -> RoutedModel | None:
        return self.candidates[0] if self.candidates else None

    @property
    def fallbacks(self) -> list[RoutedModel]:
        return self.candidates[1:]

    @property
    def has_errors(self) -> bool:
        return any(w.severity == "error" for w in self.warnings)


def routing_warnings(slot: str, models: list[Row]) -> list[Finding]:
    """What an admin should know about a slot (every model of it): routing_rules.slot_findings."""
    return rules.slot_findings(slot, models)


class RoutingService(ActingService):
    """Routing previews as one person sees the catalogue (RLS: plain users see active models only)."""

    def preview(self, *, modality: str, task: str) -> RoutingPreview:
        """One slot, from two reads in one snapshot whatever its size: its models (ranked by routing_rules, as
        preview_all ranks them) and the routing query's row of the pick. InvalidModel for a modality or task that
        cannot exist (checked before any query)."""
        modality, task = validate_slot(modality, task)
        with self._transaction() as conn:
            return _preview(conn, modality, task)

    def preview_all(self) -> list[RoutingPreview]:
        """Every modality and task in the catalogue, in order, from two reads in one snapshot whatever the number
        of slots: every model (ranked per slot by routing_rules, which a test checks against the seed's routing
        query) and the routing query's row of each slot's pick."""
        with self._transaction() as conn:
            return _previews(conn)

    def preview_all_since(self, kept: list[RoutingPreview], writes: int, epoch: str) -> list[RoutingPreview] | None:
        """kept (preview_all() as of the count writes) brought up to date: the slots written to since are read and
        built again, the others kept as they are (a slot's preview depends on its own models alone); None when only
        a whole read can say (see catalogue_changes)."""
        found = self._changes_since(
            writes, epoch, lambda conn, changes: _previews(conn, changes.slots) if changes.slots else []
        )
        if found is None:
            return None
        changes, fresh = found
        if not changes.slots:
            return kept
        others = [p for p in kept if (p.modality, p.task) not in changes.slots]
        return sorted([*others, *fresh], key=lambda p: (p.modality, p.task))


def _previews(conn: sa.Connection, slots: Collection[tuple[str, str]] | None = None) -> list[RoutingPreview]:
    """The previews of every slot, or of these (modality, task) slots only, in order: their models read at once,
    ranked per slot by routing_rules (the ranks within a slot agree with the database's order either way), and the
    routing query's row of each pick."""
    read = q.SLOT_MODELS if slots is None else q.SLOT_MODELS.where(sa.tuple_(*q.SLOT).in_(sorted(slots)))
    by_slot = rules.by_slot(rules.with_name_ranks(dict(r._mapping) for r in conn.execute(read)))
    ranked = {slot: rules.candidates(models) for slot, models in by_slot.items()}
    picks = [first[0]["id"] for first in ranked.values() if first]
    rows = conn.execute(q.PICKED_ROWS, {"ids": picks}) if picks else []
    picked = {row.id: dict(row._mapping) for row in rows}
    return [
        build_preview(modality, task, [picked.get(m["id"], m) for m in ranked[(modality, task)]], models)
        for (modality, task), models in by_slot.items()
    ]


def _preview(conn: sa.Connection, modality: str, task: str) -> RoutingPreview:
    """The slot's models read once (under RLS each row costs a policy check: one read, not the routing query's
    and then the models'), ranked by routing_rules; the routing query's row (JSON fields) for the pick only."""
    result = conn.execute(q.SLOT_MODELS.where(api_models.c.modality == modality, api_models.c.task == task))
    keys = [*result.keys(), "name_rank"]
    # routing_rules.with_name_ranks in one pass: each row is made a dict once (10,000 rows are read here at times).
    models = [dict(zip(keys, (*row, rank), strict=True)) for rank, row in enumerate(result.all())]
    ranked = rules.candidates(models)
    picked = conn.execute(q.PICKED_ROWS, {"ids": [ranked[0]["id"]]}).first() if ranked else None
    if picked is not None:
        ranked[0] = dict(picked._mapping)
    return build_preview(modality, task, ranked, models)


def build_preview(modality: str, task: str, ranked: list[Row], models: list[Row]) -> RoutingPreview:
    """A preview from the seed query's ranking and every model of the slot (pure: tested without a database)."""
    models = sorted(models, key=rules.routing_key)
    by_id = {m["id"]: m for m in models}
    candidates = []
    for rank, row in enumerate(ranked, start=1):
        model = by_id.get(row["id"])
        if model is None:  # not among the slot's models (a ranking from elsewhere): what the query's row says
            model = {**row, "priority": 0, "is_default": False, "provider_key": row["provider_name"]}
        candidates.append(_routed(model, rank=rank))
    chosen = {c.id for c in candidates}
    excluded = [
        _routed(m, reason=exclusion_reason(m) or "not returned by the routing query")
        for m in models
        if m["id"] not in chosen
    ]
    slot = f"{modality}/{task}"
    return RoutingPreview(
        modality=modality,
        task=task,
        candidates=candidates,
        excluded=excluded,
        picked_row=ranked[0] if ranked else None,
        warnings=routing_warnings(slot, models),
        models=models,
    )


def _routed(model: Row, *, rank: int | None = None, reason: str | None = None) -> RoutedModel:
    return RoutedModel(
        id=model["id"],
        display_name=model["display_name"],
        model_key=model["model_key"],
        provider_name=model["provider_name"],
        priority=model["priority"],
        is_default=model["is_default"],
        rank=rank,
        reason=reason,
        provider_key=model.get("provider_key", ""),
    )


def _line(model: RoutedModel) -> str:
    flags = ", default" if model.is_default else ""
    # A terminal names the provider as the CLI's options do (its name); the pages show its display name.
    return f"{model.display_name} ({model.provider_key or model.provider_name}), priority {model.priority}{flags}"


def preview_as_text(preview: RoutingPreview) -> str:
    """A preview as plain text for a terminal."""
    lines = [preview.slot]
    if preview.picked:
        lines.append(f"  picked     1. {_line(preview.picked)}")
        lines += [f"  fallback   {m.rank}. {_line(m)}" for m in preview.fallbacks]
    else:
        lines.append("  picked     nothing")
    lines += [f"  excluded   {_line(m)}: {m.reason}" for m in preview.excluded]
    lines += [f"  {w.severity:<10} {w.message}" for w in preview.warnings]
    if preview.picked_row:
        for key in ("input_defaults", "capabilities"):
            lines.append(f"  {key.replace('_', ' ')}: {json.dumps(preview.picked_row.get(key) or {}, sort_keys=True)}")
    # Names, keys and tasks come from the database: a \r or an escape sequence in one must not rewrite the screen.
    return "\n".join(visible(line) for line in lines)


def slots_table(previews: list[RoutingPreview]) -> pd.DataFrame:
    """Every slot with its pick and warnings, those whose jobs cannot be routed first: "All slots" and its CSV."""
    return (
        pd.DataFrame(
            [
                {
                    "Slot": p.slot,
                    "Picked": p.picked.display_name if p.picked else "—",
                    "Provider": p.picked.provider_name if p.picked else "—",
                    "Fallbacks": len(p.fallbacks),
                    "Left out": len(p.excluded),
                    "Warnings": " · ".join(w.message for w in p.warnings),
                    "_order": (not p.has_errors, not p.warnings, p.slot),
                }
                for p in previews
            ]
        )
        .sort_values("_order")
        .drop(columns="_order")
    )


def found_in(text: str, *values: object) -> bool:
    """Whether a search for text finds a model with these values (its name, provider, model id): any case, the
    text as typed (no pattern syntax); an empty search finds every model."""
    needle = text.strip().casefold()
    return not needle or any(needle in str(value).casefold() for value in values)


def matching(models: list[RoutedModel], text: str) -> list[RoutedModel]:
    """The models a search for text finds (found_in) by name, provider or model id, in their order."""
    if not text.strip():
        return models
    return [m for m in models if found_in(text, m.display_name, m.provider_name, m.model_key)]


def preview_table(preview: RoutingPreview) -> pd.DataFrame:
    """Every model of the slot, the candidates in routing order then the left out: the slot's CSV."""
    return pd.DataFrame(
        [
            {
                "Rank": m.rank,
                "Role": "left out" if m.rank is None else "picked" if m.rank == 1 else "fallback",
                "Model": m.display_name,
                "Model id": m.model_key,
                "Provider": m.provider_name,
                "Priority": m.priority,
                "Default": m.is_default,
                "Why left out": m.reason or "",
            }
            for m in [*preview.candidates, *preview.excluded]
        ],
        columns=["Rank", "Role", "Model", "Model id", "Provider", "Priority", "Default", "Why left out"],
    ).astype({"Rank": "Int64"})


def preview_as_dict(preview: RoutingPreview) -> dict[str, Any]:
    """A preview as JSON-ready data."""
    return {
        "modality": preview.modality,
        "task": preview.task,
        "picked": asdict(preview.picked) if preview.picked else None,
        "fallbacks": [asdict(m) for m in preview.fallbacks],
        "excluded": [asdict(m) for m in preview.excluded],
        "warnings": [asdict(w) for w in preview.warnings],
        "input_defaults": (preview.picked_row or {}).get("input_defaults"),
        "capabilities": (preview.picked_row or {}).get("capabilities"),
    }
