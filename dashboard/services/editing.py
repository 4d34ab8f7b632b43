"""The model editor's save use case, away from Streamlit: a draft checked, compared, confirmed and written.

A draft is the editor form's values as data: every editable field, always all of them, loaded whole from a row
(or a template for a new model) before anything can be edited. What is saved is built from the draft, never from
widget state, and only fields that differ from what was loaded are validated and written: a stored value the
person never touched is left exactly as it is, even one today's checks would refuse (a row written by SQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dashboard.services.default_slot import RULE_FIELDS
from dashboard.services.diff import Change, field_changes
from dashboard.services.errors import EditConflict, InvalidModel, ServiceError
from dashboard.services.models import ModelService, Saved
from dashboard.services.routing_rules import Impact
from dashboard.services.validation import EDITABLE_FIELDS, JSON_FIELDS, TEXT_LIMITS, validate_model_fields

FORM_FIELDS = EDITABLE_FIELDS  # a draft holds every one of them
LABELS = {"provider_id": "provider", "is_active": "active", "is_default": "default"}  # else: model_key -> model key
_TOP_FIELD = re.compile(r"^[a-z_]+")

Status = Literal["saved", "incomplete", "invalid", "unchanged", "confirm", "conflict", "failed"]


def json_text(value: Any) -> str:
    """A JSON field as the editor shows it."""
    return json.dumps({} if value is None else value, indent=2, ensure_ascii=False)


def draft_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values for a model row or a template: every editable field, JSON fields as text.

    Values are taken as stored (no trimming, no reformatting beyond JSON's), so an untouched draft compares
    equal to the row it came from.
    """
    draft: dict[str, Any] = {name: "" if row.get(name) is None else str(row[name]) for name in TEXT_LIMITS}
    draft["provider_id"] = str(row["provider_id"]) if row.get("provider_id") else None
    priority = row.get("priority")
    draft["priority"] = priority if isinstance(priority, int) and not isinstance(priority, bool) else 0
    draft["is_active"] = bool(row.get("is_active", True))
    draft["is_default"] = bool(row.get("is_default", False))
    for name in JSON_FIELDS:
        value = row.get(name)
        draft[name] = value if isinstance(value, str) else json_text(value)
    return draft


def missing_fields(draft: Mapping[str, Any]) -> list[str]:
    return [name for name in FORM_FIELDS if name not in draft]


def label(name: str) -> str:
    """A field as the form names it: provider_id -> provider, model_key -> model key."""
    return LABELS.get(name, name.replace("_", " "))


def problem_text(path: str, problem: str) -> str:
    """A problem as the form says it: a field by its label ("provider is required"), a key inside a JSON field by
    its path ("pricing.currency must be ...")."""
    return f"{label(path) if path in FORM_FIELDS else path} {problem}"


def top_field(path: str) -> str:
    """The field a change or problem path belongs to: pricing.currency -> pricing."""
    match = _TOP_FIELD.match(path)
    return match.group(0) if match else path


@dataclass(frozen=True)
class Review:
    """What saving a draft would do, computed without writing anything."""

    is_new: bool
    missing: list[str] = field(default_factory=list)  # fields the draft lacks: it cannot be saved at all
    problems: dict[str, str] = field(default_factory=dict)  # block saving
    kept: dict[str, str] = field(default_factory=dict)  # stored values today's checks refuse, left untouched
    clean: dict[str, Any] | None = None  # what would be written (None when it cannot be)
    changes: list[Change] = field(default_factory=list)
    touched: frozenset[str] = frozenset()  # fields whose value differs from what the form loaded

    @property
    def changed_fields(self) -> list[str]:
        """The fields a save writes (an update), in form order."""
        changed = {top_field(c.path) for c in self.changes}
        return [name for name in FORM_FIELDS if name in changed]

    def unedited(self, edited: Collection[str]) -> list[str]:
        """Fields the save would change although the person did not edit them."""
        suspects = self.touched if self.is_new else set(self.changed_fields)
        return [name for name in FORM_FIELDS if name in suspects and name not in edited]


def review(draft: Mapping[str, Any], opened: Mapping[str, Any], *, base: Mapping[str, Any] | None = None) -> Review:
    """Check a draft against the row it was opened from (opened is empty for a new model).

    base is the draft as the form loaded it (default: opened's). For an existing model only the fields that
    differ from base are validated and compared; for a new model every field is.
    """
    is_new = not opened
    missing = missing_fields(draft)
    if missing:
        return Review(is_new, missing=missing)
    base = base if base is not None else draft_from_row(opened)
    touched = frozenset(name for name in FORM_FIELDS if name not in base or draft[name] != base[name])
    if is_new:
        checked = list(FORM_FIELDS)
    else:
        checked = [name for name in FORM_FIELDS if name in touched]
        if "modality" in touched and "input_defaults" not in touched:
            checked.append("input_defaults")  # which inputs apply depends on the modality
    values = {name: draft[name] for name in checked}
    if "input_defaults" in values and "modality" not in values:
        values["modality"] = draft["modality"]  # context for input_defaults' checks, not written
    problems: dict[str, str] = {}
    try:
        clean = validate_model_fields(values, partial=not is_new)
    except InvalidModel as exc:
        clean, problems = None, exc.problems
    kept = {} if is_new else _stored_problems(draft, set(checked))
    if clean is None:
        return Review(is_new, problems=problems, kept=kept, touched=touched)
    clean = {name: value for name, value in clean.items() if name in checked}
    changes = field_changes(opened, clean)
    return Review(is_new, kept=kept, clean=clean, changes=changes, touched=touched)


def _stored_problems(draft: Mapping[str, Any], checked: set[str]) -> dict[str, str]:
    try:
        validate_model_fields(draft)
    except InvalidModel as exc:
        return {path: problem for path, problem in exc.problems.items() if top_field(path) not in checked}
    return {}


@dataclass(frozen=True)
class SaveResult:
    status: Status
    review: Review
    saved: dict[str, Any] | None = None
    unedited: list[str] = field(default_factory=list)
    error: ServiceError | None = None
    replaced: dict[str, Any] | None = None  # the default the saved model took over, if it did

    @property
    def message(self) -> str:
        if self.status == "incomplete":
            missing = ", ".join(label(n) for n in self.review.missing)
            return (
                f"The form is not complete (no value for {missing}), so nothing was saved. Reload the model "
                "and make your change again."
            )
        if self.status == "invalid":
            return "Fix the problems above before saving."
        if self.status == "unchanged":
            return "Nothing to save: nothing differs."
        if self.status == "confirm":
            return (
                f"You did not edit: {', '.join(label(n) for n in self.unedited)}. Saving would change "
                "them too: check the changes above, then confirm, or discard your edits."
            )
        if self.status == "conflict":
            return "Someone else saved this model after you opened it, so your changes were not saved."
        if self.status == "saved" and self.saved:
            return Saved(self.saved, self.replaced).describe("Saved")
        return str(self.error or "")


def save_draft(
    models: ModelService,
    draft: Mapping[str, Any],
    opened: Mapping[str, Any],
    edited_fields: Collection[str],
    confirmed: bool = False,
    *,
    base: Mapping[str, Any] | None = None,
) -> SaveResult:
    """Save the editor's draft: an update of opened's row (only the fields that change), or a new model.

    Refused, with nothing written, when the draft is incomplete or invalid, when nothing changes, when the
    save would change fields the person did not edit and confirmed is False (status "confirm", naming them),
    or when someone else saved the row since it was opened (status "conflict", compare-and-swap on
    row_version). Other refusals of the service come back as status "failed" with the error.
    """
    checked = review(draft, opened, base=base)
    if checked.missing:
        return SaveResult("incomplete", checked)
    if checked.clean is None:
        return SaveResult("invalid", checked)
    if not checked.changes:
        return SaveResult("unchanged", checked)
    unedited = checked.unedited(edited_fields)
    if unedited and not confirmed:
        return SaveResult("confirm", checked, unedited=unedited)
    try:
        if checked.is_new:
            saved = models.create(checked.clean)
        else:
            saved = models.update(opened["id"], _written(checked), expected_version=opened["row_version"])
    except EditConflict as exc:
        return SaveResult("conflict", checked, unedited=unedited, error=exc)
    except ServiceError as exc:
        return SaveResult("failed", checked, unedited=unedited, error=exc)
    return SaveResult("saved", checked, saved=saved.model, unedited=unedited, replaced=saved.replaced)


def _written(checked: Review) -> dict[str, Any]:
    """What saving an existing model writes: the fields that change."""
    return {name: checked.clean[name] for name in checked.changed_fields} if checked.clean else {}


def save_impacts(models: ModelService, opened: Mapping[str, Any], checked: Review) -> list[Impact]:
    """What saving would do to routing, worst first: a default gained, handed over or given up, a model moved to
    another slot, deactivated or re-prioritised. Empty when it cannot be saved or routing is not concerned."""
    if checked.clean is None or not checked.changes:
        return []
    changes = checked.clean if checked.is_new else _written(checked)
    if not checked.is_new and not set(changes) & set(RULE_FIELDS):
        return []
    return models.review_change(changes, model_id=None if checked.is_new else opened["id"])


@dataclass(frozen=True)
class SavePreview:
    """What the editor shows before Save: the review, the fields the person did not edit, the routing impact."""

    review: Review
    unedited: list[str]
    impacts: list[Impact]


def preview_save(
    models: ModelService,
    draft: Mapping[str, Any],
    opened: Mapping[str, Any],
    edited_fields: Collection[str],
    *,
    base: Mapping[str, Any] | None = None,
) -> SavePreview:
    """Everything the editor says about a draft before it is saved; nothing is written."""
    checked = review(draft, opened, base=base)
    return SavePreview(checked, checked.unedited(edited_fields), save_impacts(models, opened, checked))
