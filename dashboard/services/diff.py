"""What an edit changes, field by field and JSON key by key, and how to reapply it after a conflict."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from dashboard.services.validation import EDITABLE_FIELDS, JSON_FIELDS

_MISSING = object()


@dataclass(frozen=True)
class Change:
    """One difference: a field, or a key path inside a JSON field (pricing.per_image)."""

    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        if self.before is _MISSING:
            return "added"
        if self.after is _MISSING:
            return "removed"
        return "changed"

    def shown(self, value: Any) -> str:
        if value is _MISSING:
            return "—"
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return "empty" if value is None or value == "" else str(value)


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every editable field that differs; JSON fields compared key by key."""
    changes: list[Change] = []
    for field in EDITABLE_FIELDS:
        if field not in after:
            continue
        old, new = before.get(field), after[field]
        if field in JSON_FIELDS and isinstance(old, dict) and isinstance(new, dict):
            changes.extend(json_changes(field, old, new))
        elif _normal(old) != _normal(new):
            changes.append(Change(field, old, new))
    return changes


def json_changes(path: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        if isinstance(a, dict) and isinstance(b, dict):
            changes.extend(json_changes(f"{path}.{key}", a, b))
        elif a != b or type(a) is not type(b):
            changes.append(Change(f"{path}.{key}", a, b))
    return changes


def _normal(value: Any) -> Any:
    return str(value) if value is not None and not isinstance(value, bool | int | float | dict | list) else value


def reapply(
    opened: dict[str, Any], current: dict[str, Any], mine: dict[str, Any], edited: Collection[str] | None = None
) -> dict[str, Any]:
    """Three-way merge after a conflict: my edits on top of the current row, for every field of mine.

    With edited (the fields the person changed in the form), exactly those fields keep my value, when it still
    differs from what I opened; every other field takes its current value, whatever mine holds, so nothing I
    did not edit is carried over (nor reset). Without edited, a field counts as mine when it differs from what
    I opened. JSON fields compare as values: JSON text and the object it parses to are the same.
    """
    changed = mine_changed(opened, mine, edited)
    return {field: value if field in changed else current.get(field) for field, value in mine.items()}


def mine_changed(opened: dict[str, Any], mine: dict[str, Any], edited: Collection[str] | None = None) -> set[str]:
    """The fields of mine that are really my changes: edited (if given) and different from what I opened."""
    candidates = mine.keys() if edited is None else [f for f in mine if f in edited]
    return {f for f in candidates if _comparable(f, mine[f]) != _comparable(f, opened.get(f))}


def _comparable(field: str, value: Any) -> Any:
    if field in JSON_FIELDS and isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            return value
    if field in JSON_FIELDS and isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)  # types kept apart: 1, 1.0 and true differ
    if value == "" and field not in JSON_FIELDS:
        return None  # an empty text field is no value
    return _normal(value)
