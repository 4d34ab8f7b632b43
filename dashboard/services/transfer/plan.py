"""An import's dry run: every row of the file as new, changed (with the field diff), unchanged or an error, with
every problem by row and field, and what the writes would do to routing. Nothing is written here.

An import is keyed on (provider name, model_key, version): a row matching a model updates it, any other row
adds one. A default in the file follows the one-default-per-slot protocol (services/default_slot.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from dashboard.export import as_text
from dashboard.queries import transfer as qt
from dashboard.services.base import Row
from dashboard.services.diff import Change, field_changes
from dashboard.services.errors import InvalidModel
from dashboard.services.models import INSERT_DEFAULTS
from dashboard.services.routing_rules import Impact
from dashboard.services.traffic import Traffic
from dashboard.services.transfer.defaults import check_defaults, routing_impacts, routing_states
from dashboard.services.transfer.formats import COLUMNS, Key, SourceRow, as_float, dumps_exact, exact_row, loads_exact
from dashboard.services.validation import JSON_FIELDS, validate_model_fields
from dashboard.text import visible

Progress = Callable[[int, int], None]


@dataclass
class PlanRow:
    """One row of the file as the import would treat it: new, changed (with the diff), unchanged, or an error."""

    where: str
    key: Key | None
    status: str  # "new", "changed", "unchanged" or "error"
    display_name: str = ""
    changes: list[Change] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model_id: UUID | None = None
    values: dict[str, Any] = field(default_factory=dict)  # what to write (JSON fields with exact numbers)
    current: Row | None = None  # the model as it is now, for an existing one

    @property
    def after(self) -> Row:
        """The model as it will be: now, with this row's values on top."""
        return {**(self.current or {}), **self.values}

    def describe_key(self) -> str:
        """provider/model_key v version, as the person knows the model."""
        if not self.key:
            return "—"
        provider, model_key, version = self.key
        return f"{provider}/{model_key}" + (f" v{version}" if version else "")


@dataclass
class ImportPlan:
    rows: list[PlanRow]
    impacts: list[Impact] = field(default_factory=list)  # what the writes do to routing, worst first
    states: tuple[list[Row], list[Row]] = ([], [])  # the touched slots' models before and after (routing_states)
    traffic: Traffic | None = None  # the jobs the writes would move (TransferService.plan fills it in)

    def count(self, status: str) -> int:
        """How many rows have this status."""
        return sum(r.status == status for r in self.rows)

    @property
    def ok(self) -> bool:
        """Whether the import can be applied (no row has a problem)."""
        return not self.count("error")

    @property
    def writes(self) -> list[PlanRow]:
        """The rows an apply writes."""
        return [r for r in self.rows if r.status in ("new", "changed")]

    def fingerprint(self) -> str:
        """What the plan would write: two plans with the same fingerprint write the same thing."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(
                repr(
                    (
                        row.where,
                        row.status,
                        row.model_id,
                        [(c.path, repr(c.before), repr(c.after)) for c in row.changes],
                    )
                ).encode()
            )
        return digest.hexdigest()


def plan_rows(conn: Connection, rows: list[SourceRow], progress: Progress | None = None) -> ImportPlan:
    """The dry run of an import of rows against the catalogue as conn sees it: nothing is written."""
    providers = {r.name: r for r in conn.execute(qt.PROVIDERS)}
    existing: dict[Key, list[Row]] = {}
    for row in conn.execute(qt.IMPORT_BASE):
        values = exact_row(row)
        existing.setdefault((values["provider"], values["model_key"], values["version"]), []).append(values)
    seen: dict[Key, str] = {}
    planned = []
    for index, source in enumerate(rows, start=1):
        planned.append(_plan_row(source, providers, existing, seen))
        if progress and (index % 200 == 0 or index == len(rows)):
            progress(index, len(rows))
    providers_by_id = {p.id: p for p in providers.values()}
    check_defaults(planned, existing, providers_by_id)
    states = routing_states(planned, existing, providers_by_id)
    return ImportPlan(planned, routing_impacts(states), states)


def _plan_row(source: SourceRow, providers: dict, existing: dict[Key, list[Row]], seen: dict[Key, str]) -> PlanRow:
    values = source.values
    if "__error__" in values:
        return PlanRow(source.where, None, "error", problems={"row": values["__error__"]})
    problems: dict[str, str] = {}
    unknown = [k for k in values if k not in COLUMNS and k != "id"]
    for name in unknown[:5]:
        problems[str(name)[:40]] = "is not a column of the catalogue"
    provider_name, model_key = values.get("provider"), values.get("model_key")
    for column, value in (("provider", provider_name), ("model_key", model_key)):
        if not isinstance(value, str) or not value.strip():
            problems[column] = "is required (it is part of the key)"
    version = values.get("version")
    if version is not None and not isinstance(version, str):
        problems["version"] = "must be text"
    if problems:
        return PlanRow(source.where, None, "error", problems=problems)
    key: Key = (provider_name.strip(), model_key.strip(), (version or "").strip() or None)
    plan_row = PlanRow(source.where, key, "error", display_name=str(values.get("display_name") or model_key))
    if key in seen:
        plan_row.problems["model_key"] = f"the same provider, model_key and version as {seen[key]}"
        return plan_row
    seen[key] = source.where
    provider = providers.get(key[0])
    if provider is None:
        plan_row.problems["provider"] = f"no provider is named {key[0][:60]!r}; add it on the Providers page first"
        return plan_row
    matches = existing.get(key, [])
    if len(matches) > 1:
        plan_row.problems["model_key"] = f"matches {len(matches)} models in the catalogue; tell them apart by version"
        return plan_row
    fields, raw_json = _fields(values, provider.id, plan_row.problems)
    current = matches[0] if matches else None
    if current is not None and "input_defaults" in fields and "modality" not in fields:
        fields_for_rules = {"modality": current["modality"], **fields}
    else:
        fields_for_rules = fields
    try:
        clean = validate_model_fields(fields_for_rules, partial=current is not None)
    except InvalidModel as exc:
        plan_row.problems.update(exc.problems)
    if plan_row.problems:
        return plan_row
    for name, text in raw_json.items():  # write the file's exact numbers, not the floats the rules saw
        clean[name] = loads_exact(text)
    if current is None:
        plan_row.status, plan_row.values = "new", {**INSERT_DEFAULTS, **clean}
        plan_row.changes = field_changes({}, plan_row.values)
        plan_row.display_name = plan_row.values["display_name"]
        return plan_row
    plan_row.model_id, plan_row.display_name = current["id"], current["display_name"]
    plan_row.changes = field_changes(current, clean)
    changed = {c.path.split(".")[0] for c in plan_row.changes}
    plan_row.values = {k: v for k, v in clean.items() if k in changed}
    plan_row.status = "changed" if plan_row.changes else "unchanged"
    plan_row.current = current
    return plan_row


def _fields(
    values: dict[str, Any], provider_id: UUID, problems: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The row as model fields; JSON fields parsed (floats for the rules) with their exact text kept."""
    fields: dict[str, Any] = {"provider_id": provider_id}
    raw_json: dict[str, str] = {}
    for column in COLUMNS:
        if column == "provider" or column not in values:
            continue
        value = values[column]
        if column in JSON_FIELDS:
            if value is None:
                continue
            if isinstance(value, str):
                try:
                    value = loads_exact(value)
                except ValueError as exc:
                    problems[column] = f"is not valid JSON ({exc})"
                    continue
                except RecursionError:
                    problems[column] = "is nested too deeply"
                    continue
            try:
                raw_json[column] = dumps_exact(value)
            except (ValueError, RecursionError):
                problems[column] = "is not valid JSON (NaN, Infinity or too deep)"
                continue
            fields[column] = as_float(value)
        else:
            fields[column] = value
    return fields, raw_json


def describe_plan(plan: ImportPlan, *, applied: bool = False, limit: int = 200) -> str:
    """A plan in plain text: the counts, then every problem and change (the first limit rows)."""
    labels = {"new": "new", "changed": "changed", "unchanged": "unchanged", "error": "with problems"}
    counts = ", ".join(f"{plan.count(s):,} {label}" for s, label in labels.items())
    lines = [("applied: " if applied else "dry run: ") + counts]
    for row in [r for r in plan.rows if r.status != "unchanged"][:limit]:
        lines.append(f"{row.where}  {row.status:<9} {row.describe_key()}")
        lines += [f"    {field}: {problem}" for field, problem in row.problems.items()]
        if row.status == "changed":
            lines += [f"    {c.path}: {c.shown(as_text(c.before))} -> {c.shown(as_text(c.after))}" for c in row.changes]
        lines += [f"    note: {note}" for note in row.notes]
    lines += [f"routing ({impact.severity}): {impact.message}" for impact in plan.impacts]
    if plan.traffic is not None and plan.writes:
        lines += plan.traffic.lines()
    if not applied and plan.ok and plan.writes:
        lines.append("nothing was written; run again with --apply to write it")
    # A file's keys and values reach a terminal here: an escape sequence or a \r must not hide a line.
    return "\n".join(visible(line) for line in lines)
