"""A JSONB field edited as raw JSON, with its problems shown live and a key/value view beside it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.services.editing import problem_text, top_field
from dashboard.text import md_escape, visible_frame

EXAMPLES = {
    "input_defaults": '{"prompt": "", "width": 1024, "height": 1024}',
    "capabilities": '{"max_resolution": "1024x1024", "supports_negative_prompts": true}',
    "pricing": '{"per_image": 0.0023, "currency": "USD", "billing_unit": "per_image"}',
}


def flatten(value: Any, path: str = "") -> list[tuple[str, str, str]]:
    """(key path, value as JSON, type) for every leaf, for the key/value view."""
    if isinstance(value, dict) and value:
        return [row for key, item in value.items() for row in flatten(item, f"{path}.{key}" if path else str(key))]
    kind = {dict: "object", list: "array", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "number"
    )
    return [(path or "(empty)", json.dumps(value, ensure_ascii=False), kind)]


def render_json_field(
    field: str,
    label: str,
    *,
    key: str,
    problems: dict[str, str],
    kept: dict[str, str] | None = None,
    on_change: Callable[..., None] | None = None,
    args: tuple[Any, ...] = (),
) -> None:
    """The text area, this field's problems (pointing at the key), and the parsed keys and values.

    kept: problems of the value as stored, which the person has not edited: said, but saving leaves it as is.
    """
    raw, view = st.columns([3, 2])
    text = raw.text_area(
        label, key=key, height=240, help=f"A JSON object, e.g. {EXAMPLES[field]}", on_change=on_change, args=args
    )
    mine = {path: problem for path, problem in problems.items() if top_field(path) == field}
    for path, problem in mine.items():  # every problem of the field at once, each naming its key
        raw.error(md_escape(problem_text(path, problem)), icon=":material/error:")
    stored = {path: problem for path, problem in (kept or {}).items() if top_field(path) == field}
    for path, problem in stored.items():
        raw.warning(
            md_escape(f"As stored, {path} {problem}. It is kept exactly as it is unless you edit it."),
            icon=":material/warning:",
        )
    if not mine and not stored:
        raw.caption(":material/check_circle: Valid JSON object")
    try:
        parsed = json.loads(text) if text.strip() else {}
    except (json.JSONDecodeError, RecursionError):
        view.caption("The key/value view appears when the JSON is valid.")
        return
    if isinstance(parsed, dict):
        rows = flatten(parsed)
        frame = pd.DataFrame(rows, columns=["Key", "Value", "Type"])
        at_keys = {path.removeprefix(f"{field}."): problem for path, problem in {**stored, **mine}.items()}
        if at_keys:  # each problem beside its key as well as under the text
            frame["Problem"] = [at_keys.get(key, "") for key in frame["Key"]]
        view.dataframe(visible_frame(frame), hide_index=True, width="stretch", height=min(240, 38 + 35 * len(rows)))
