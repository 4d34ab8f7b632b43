"""Validation of a model's fields before they reach the database: clear, per-field problems."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from dashboard.services.errors import InvalidModel
from dashboard.text import describe_character, first_hidden

MODALITIES = ("text", "image", "video", "audio")
BILLING_UNITS = (
    "per_image",
    "per_second",
    "per_minute",
    "per_token",
    "per_1k_tokens",
    "per_1m_tokens",
    "per_character",
    "per_request",
)
JSON_FIELDS = ("input_defaults", "capabilities", "pricing")
REQUIRED_FIELDS = ("provider_id", "model_key", "display_name", "modality", "task")
# Longest accepted value of each text field: long enough for real keys (a Replicate key with its
# 64-hex version is ~110), short enough that a pasted document is refused with a message.
TEXT_LIMITS = {
    "model_key": 500,
    "display_name": 200,
    "modality": 10,
    "task": 64,
    "version": 100,
    "model_family": 100,
    "endpoint_path": 500,
    "output_format": 100,
}
EDITABLE_FIELDS = (*TEXT_LIMITS, "provider_id", *JSON_FIELDS, "is_active", "is_default", "priority")
MAX_JSON_BYTES = 32_768
MAX_PRICE = 1_000_000  # per unit: anything above is a typo, not a price
MAX_JSON_DEPTH = 8
MAX_PROBLEMS_PER_FIELD = 20  # problems named per JSON field, so hostile JSON cannot flood the page
INT4 = (-(2**31), 2**31 - 1)

_TASK = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_RESOLUTION = re.compile(r"^[1-9]\d{0,5}x[1-9]\d{0,5}$")
# Whitespace a JSON string value may hold (a prompt with line breaks); keys and text fields take none.
_JSON_TEXT_WHITESPACE = "\t\n\r"

# input_defaults keys the platform knows: (type, minimum, maximum, modalities it applies to).
_ALL = frozenset(MODALITIES)
_VISUAL = frozenset({"image", "video"})
INPUT_KEYS: dict[str, tuple[type, float | None, float | None, frozenset[str]]] = {
    "prompt": (str, None, None, _ALL),
    "negative_prompt": (str, None, None, _VISUAL),
    "width": (int, 1, 16384, _VISUAL),
    "height": (int, 1, 16384, _VISUAL),
    "num_inference_steps": (int, 1, 1000, _VISUAL),
    "guidance_scale": (float, 0, 100, _VISUAL),
    "num_outputs": (int, 1, 16, _VISUAL),
    "seed": (int, 0, 2**32 - 1, _ALL),
    "fps": (int, 1, 240, frozenset({"video"})),
    "num_frames": (int, 1, 10_000, frozenset({"video"})),
    "duration": (float, 0, 3600, frozenset({"video", "audio"})),
    "sample_rate": (int, 8000, 192_000, frozenset({"audio"})),
    "voice": (str, None, None, frozenset({"audio"})),
    "max_tokens": (int, 1, 10_000_000, frozenset({"text"})),
    "temperature": (float, 0, 2, frozenset({"text", "audio"})),
    "top_p": (float, 0, 1, frozenset({"text"})),
}


def validate_model_fields(fields: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Clean and check a model's editable fields; raise InvalidModel naming every problem.

    partial=True checks only the fields given (an update); otherwise required fields must be present.
    """
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in fields:
        if name not in EDITABLE_FIELDS:
            problems[str(name)[:60]] = "is not a field that can be set"
    for name in TEXT_LIMITS:
        if name in fields:
            _check_text(name, fields[name], problems, clean)
    if "provider_id" in fields:
        _check_uuid("provider_id", fields["provider_id"], problems, clean)
    if not partial:
        for name in REQUIRED_FIELDS:
            if clean.get(name) is None and name not in problems:
                problems[name] = "is required"
    if clean.get("modality") is not None and clean["modality"] not in MODALITIES:
        problems["modality"] = f"must be one of {', '.join(MODALITIES)}"
    if clean.get("task") is not None and not _TASK.match(clean["task"]):
        problems["task"] = "use lowercase letters and digits joined by '-' or '_' (e.g. image-to-video)"
    if "priority" in fields:
        _check_priority(fields["priority"], problems, clean)
    for name in ("is_active", "is_default"):
        if name in fields:
            if isinstance(fields[name], bool):
                clean[name] = fields[name]
            else:
                problems[name] = "must be true or false"
    for name in JSON_FIELDS:
        if name in fields:
            _check_json_field(name, fields[name], clean.get("modality"), problems, clean)
    if problems:
        raise InvalidModel(problems)
    return clean


def _check_text(name: str, value: Any, problems: dict[str, str], clean: dict[str, Any]) -> None:
    if value is None:
        clean[name] = None
        return
    if not isinstance(value, str):
        problems[name] = "must be text"
        return
    value = value.strip()
    if hidden := first_hidden(value):
        problems[name] = hidden_problem(hidden)
    elif len(value) > TEXT_LIMITS[name]:
        problems[name] = f"is {len(value):,} characters long; at most {TEXT_LIMITS[name]} are allowed"
    else:
        clean[name] = value or None


def _check_uuid(name: str, value: Any, problems: dict[str, str], clean: dict[str, Any]) -> None:
    if value is None or value == "":
        clean[name] = None  # missing, not malformed: the required-field check says so
        return
    try:
        clean[name] = value if isinstance(value, UUID) else UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        problems[name] = "is not a valid id; pick a provider from the list"


def _check_priority(value: Any, problems: dict[str, str], clean: dict[str, Any]) -> None:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        problems["priority"] = "must be a whole number (lower is preferred)"
    elif not INT4[0] <= value <= INT4[1]:
        problems["priority"] = f"must be between {INT4[0]:,} and {INT4[1]:,}"
    else:
        clean["priority"] = value


def _check_json_field(
    name: str, value: Any, modality: str | None, problems: dict[str, str], clean: dict[str, Any]
) -> None:
    if isinstance(value, str):
        if len(value.encode("utf-8", "surrogatepass")) > MAX_JSON_BYTES:
            problems[name] = f"is larger than {MAX_JSON_BYTES // 1024} KiB"
            return
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            problems[name] = f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            return
        except RecursionError:
            problems[name] = f"is nested more than {MAX_JSON_DEPTH} levels deep"
            return
    if not isinstance(value, dict):
        problems[name] = f"must be a JSON object ({{...}}), not {_json_type(value)}"
        return
    found = _structural_problems(value, name, depth=1)
    if not found and len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")) > MAX_JSON_BYTES:
        found = [(name, f"is larger than {MAX_JSON_BYTES // 1024} KiB")]
    if not found:
        checker = {"pricing": _pricing_problems, "capabilities": _capabilities_problems}.get(name)
        found = checker(value) if checker else _input_defaults_problems(value, modality)
    # Every problem of the field at once, each at its key (the first per key; a bounded list for hostile JSON).
    for path, problem in found[:MAX_PROBLEMS_PER_FIELD]:
        problems.setdefault(path, problem)
    if not found:
        clean[name] = value


def _structural_problems(value: Any, path: str, depth: int) -> list[tuple[str, str]]:
    """Depth, NUL bytes, lone surrogates and non-finite numbers: what PostgreSQL's jsonb refuses or mangles."""
    if depth > MAX_JSON_DEPTH:
        return [(path, f"is nested more than {MAX_JSON_DEPTH} levels deep")]
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if len(found) >= MAX_PROBLEMS_PER_FIELD:
                break
            if not isinstance(key, str):
                found.append((path, "has a key that is not text"))
                continue
            problem = _string_problem(key, f"{path} key {key[:40]!r}", allow="")
            found += [problem] if problem else _structural_problems(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if len(found) >= MAX_PROBLEMS_PER_FIELD:
                break
            found += _structural_problems(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, str):
        problem = _string_problem(value, path)
        found += [problem] if problem else []
    elif isinstance(value, float) and not math.isfinite(value):
        found.append((path, "must be a finite number"))
    return found


def hidden_problem(char: str) -> str:
    """What is wrong with text holding a control or invisible character, naming the character."""
    return (
        f"contains control characters or invisible characters that can hide or reorder text, such as "
        f"{describe_character(char)}; remove them"
    )


def _string_problem(value: str, path: str, allow: str = _JSON_TEXT_WHITESPACE) -> tuple[str, str] | None:
    if "\x00" in value:
        return path, "contains a NUL character, which PostgreSQL cannot store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return path, "contains an invalid Unicode character (a lone surrogate)"
    if hidden := first_hidden(value, allow):
        return path, hidden_problem(hidden)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pricing_problems(pricing: dict[str, Any]) -> list[tuple[str, str]]:
    if not pricing:
        return []  # not costed yet: allowed, and listed as such by the usage page
    found = []
    unit = pricing.get("billing_unit")
    if unit not in BILLING_UNITS:
        found.append(("pricing.billing_unit", f"must be one of {', '.join(BILLING_UNITS)}"))
    elif not _is_number(pricing.get(unit)):
        found.append((f"pricing.{unit}", f'must be the price per unit as a number (e.g. "{unit}": 0.0023)'))
    for key, price in pricing.items():
        if key.startswith("per_") and (not _is_number(price) or price < 0):
            found.append((f"pricing.{key}", "must be a non-negative number"))
        elif key.startswith("per_") and price > MAX_PRICE:
            found.append((f"pricing.{key}", f"is over {MAX_PRICE:,} per unit: check for a typo"))
    currency = pricing.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        found.append(("pricing.currency", "must be a three-letter currency code in capitals, e.g. USD"))
    return found


def _capabilities_problems(capabilities: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for key, value in capabilities.items():
        path = f"capabilities.{key}"
        if key.startswith("supports_") and not isinstance(value, bool):
            found.append((path, "must be true or false"))
        elif key == "max_resolution" and not (isinstance(value, str) and _RESOLUTION.match(value)):
            found.append((path, "must be WIDTHxHEIGHT, e.g. 1024x1024"))
        elif key.startswith("max_") and key != "max_resolution" and not (_is_number(value) and value >= 0):
            found.append((path, "must be a non-negative number"))
    return found


def _input_defaults_problems(defaults: dict[str, Any], modality: str | None) -> list[tuple[str, str]]:
    found = []
    for key, value in defaults.items():
        if key in INPUT_KEYS:
            problem = _input_problem(key, value, modality)
            found += [(f"input_defaults.{key}", problem)] if problem else []
    return found


def _input_problem(key: str, value: Any, modality: str | None) -> str | None:
    kind, low, high, modalities = INPUT_KEYS[key]
    if modality and modality not in modalities:
        return f"applies to {', '.join(sorted(modalities))} models, not {modality}"
    if kind is str:
        return None if isinstance(value, str) else "must be text"
    if not _is_number(value) or (kind is int and not isinstance(value, int)):
        return "must be a whole number" if kind is int else "must be a number"
    if (low is not None and value < low) or (high is not None and value > high):
        return f"must be between {low:g} and {high:g}"
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return "a number" if _is_number(value) else type(value).__name__


def validate_slot(modality: object, task: object) -> tuple[str, str]:
    """A modality and task to look up; InvalidModel naming what is wrong (nothing reaches the database)."""
    problems = {}
    if modality not in MODALITIES:
        problems["modality"] = f"must be one of {', '.join(MODALITIES)}"
    if not isinstance(task, str) or len(task) > TEXT_LIMITS["task"] or not _TASK.match(task):
        problems["task"] = "must be lowercase words joined by - or _ (e.g. image-to-video)"
    if problems:
        raise InvalidModel(problems)
    return str(modality), str(task)
