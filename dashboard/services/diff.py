"""What an edit changes, field by field and JSON key by key, and how to reapply it after a conflict."""

from __future__ import annotations

import json
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


def reapply(opened: dict[str, Any], current: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    """Three-way merge after a conflict: my edits on top of the current row.

    A field I left as I opened it takes its current value (someone else's change is kept); a field I
    changed keeps my value.
    """
    merged = {}
    for field, value in mine.items():
        untouched = _normal(value) == _normal(opened.get(field))
        merged[field] = current.get(field) if untouched else value
    return merged
