"""The model editor's form: every column with the right widget, loaded once per model, read back as fields."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.services.validation import INT4, JSON_FIELDS, MODALITIES, TEXT_LIMITS
from dashboard.ui.json_field import as_text, render_json_field

NEW_TASK = "➕ New task…"
_LOADED = "_editor_loaded"
_OPENED = "_editor_opened"
_PENDING = "_editor_pending"
_DRAFT = "_editor_draft"  # the form's values, kept where Streamlit does not clean them up
JSON_LABELS = {"input_defaults": "Input defaults", "capabilities": "Capabilities", "pricing": "Pricing"}
_TEXT_FIELDS = ("display_name", "model_key", "version", "model_family", "endpoint_path", "output_format")
_WIDGET_KEYS = tuple(f"ed_{f}" for f in (*_TEXT_FIELDS, *JSON_FIELDS, "provider", "modality", "task", "new_task",
                                         "priority", "is_active", "is_default"))  # fmt: skip


def load(form_id: str, model: dict[str, Any], opened: dict[str, Any]) -> dict[str, Any]:
    """Fill the widgets with model once per form_id, so edits survive reruns and errors; return the row
    as it was opened (what the diff compares with and whose row_version guards the save)."""
    pending = st.session_state.pop(_PENDING, None)
    if pending is not None and pending[0] == form_id:
        _, model, opened = pending
    elif st.session_state.get(_LOADED) == form_id:
        # Streamlit drops a widget's value after a run that did not draw it (the person went to another page):
        # put the draft back, so coming back to the model finds the edits where they were left.
        draft = st.session_state.get(_DRAFT, {})
        for key, value in draft.items():
            if key not in st.session_state:
                st.session_state[key] = value
        return st.session_state[_OPENED]
    for field in _TEXT_FIELDS:
        st.session_state[f"ed_{field}"] = model.get(field) or ""
    for field in JSON_FIELDS:
        value = model.get(field) or {}
        st.session_state[f"ed_{field}"] = value if isinstance(value, str) else as_text(value)
    st.session_state["ed_provider"] = str(model["provider_id"]) if model.get("provider_id") else None
    st.session_state["ed_modality"] = model.get("modality") or "image"
    st.session_state["ed_task"] = model.get("task") or NEW_TASK
    st.session_state["ed_new_task"] = ""
    st.session_state["ed_priority"] = int(model.get("priority") or 0)
    st.session_state["ed_is_active"] = bool(model.get("is_active", True))
    st.session_state["ed_is_default"] = bool(model.get("is_default", False))
    st.session_state[_LOADED] = form_id
    st.session_state[_OPENED] = opened
    return opened


def keep_draft() -> None:
    """Copy the form's widget values aside (call after render); load() restores what Streamlit dropped."""
    st.session_state[_DRAFT] = {k: st.session_state[k] for k in _WIDGET_KEYS if k in st.session_state}


def is_loaded(form_id: str) -> bool:
    return st.session_state.get(_LOADED) == form_id


def load_next_run(form_id: str, values: dict[str, Any], opened: dict[str, Any]) -> None:
    """Put values in the form at the start of the next run (widgets cannot change once drawn)."""
    st.session_state[_PENDING] = (form_id, values, opened)


def forget() -> None:
    """The next load() reloads from the database (after a save or an action)."""
    st.session_state.pop(_LOADED, None)
    st.session_state.pop(_OPENED, None)
    st.session_state.pop(_DRAFT, None)


def render(*, providers: list[dict[str, Any]], tasks: list[tuple[str, str]], problems: dict[str, str]) -> None:
    """Draw the form's widgets (their values live in session_state under ed_*)."""
    names = {str(p["id"]): p["display_name"] + ("" if p["is_active"] else " (inactive)") for p in providers}
    st.subheader("Identity")
    a, b = st.columns(2)
    a.text_input("Display name", key="ed_display_name", max_chars=TEXT_LIMITS["display_name"])
    b.text_input("Model key", key="ed_model_key", max_chars=TEXT_LIMITS["model_key"],
                 help="The provider's identifier, e.g. stability-ai/sdxl:39ed52f2…")  # fmt: skip
    a, b, c = st.columns(3)
    a.selectbox("Provider", list(names), key="ed_provider", format_func=lambda v: names.get(v, v),
                placeholder="Pick a provider")  # fmt: skip
    b.text_input("Version", key="ed_version", max_chars=TEXT_LIMITS["version"])
    c.text_input("Model family", key="ed_model_family", max_chars=TEXT_LIMITS["model_family"])

    st.subheader("Routing")
    a, b, c = st.columns(3)
    modality = a.selectbox("Modality", MODALITIES, key="ed_modality")
    options = sorted({t for m, t in tasks if m == modality} | ({st.session_state["ed_task"]} - {NEW_TASK}))
    if st.session_state["ed_task"] not in (*options, NEW_TASK):
        st.session_state["ed_task"] = NEW_TASK
    task = b.selectbox("Task", [*options, NEW_TASK], key="ed_task")
    if task == NEW_TASK:
        b.text_input("New task", key="ed_new_task", max_chars=TEXT_LIMITS["task"], placeholder="e.g. image-to-video")
    c.number_input("Priority", key="ed_priority", min_value=INT4[0], max_value=INT4[1], step=1,
                   help="Lower is preferred: routing tries priority 1 before 2.")  # fmt: skip
    a, b = st.columns(2)
    a.toggle("Active (used for routing)", key="ed_is_active")
    b.toggle("Default for its modality and task", key="ed_is_default")

    st.subheader("Endpoint")
    a, b = st.columns(2)
    a.text_input("Endpoint path", key="ed_endpoint_path", max_chars=TEXT_LIMITS["endpoint_path"])
    b.text_input("Output format", key="ed_output_format", max_chars=TEXT_LIMITS["output_format"],
                 placeholder="e.g. image/jpeg")  # fmt: skip

    st.subheader("Parameters, capabilities and pricing")
    for tab, field in zip(st.tabs(list(JSON_LABELS.values())), JSON_FIELDS, strict=True):
        with tab:
            render_json_field(field, JSON_LABELS[field], key=f"ed_{field}", problems=problems)
    keep_draft()


def read() -> dict[str, Any]:
    """The form's values as model fields (JSON fields still as text; validation parses them)."""
    ss = st.session_state
    fields: dict[str, Any] = {field: ss.get(f"ed_{field}", "") for field in (*_TEXT_FIELDS, *JSON_FIELDS)}
    fields.update(
        provider_id=ss.get("ed_provider"), modality=ss.get("ed_modality"),
        task=ss.get("ed_new_task", "") if ss.get("ed_task") == NEW_TASK else ss.get("ed_task"),
        priority=ss.get("ed_priority", 0), is_active=bool(ss.get("ed_is_active")),
        is_default=bool(ss.get("ed_is_default")),
    )  # fmt: skip
    return fields
