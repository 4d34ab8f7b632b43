"""The model editor's form. Its values live in a draft (data in session_state, one per form id), loaded whole
from the row before any widget is drawn; the widgets only show the draft and write each edit back into it.

Why: on an interrupted first run (a field edited before the page finished drawing) widgets not drawn yet have
no value in session_state, and a form read back from its widgets gets their defaults (an empty JSON field, the
first provider, the lowest priority). Here a widget with no state is drawn from the draft, never from a
default, and what is saved is built from the draft alone (dashboard.services.editing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from dashboard.services.diff import mine_changed, reapply
from dashboard.services.editing import FORM_FIELDS, draft_from_row, problem_text
from dashboard.services.validation import INT4, JSON_FIELDS, MODALITIES, TEXT_LIMITS
from dashboard.text import md_escape, visible
from dashboard.ui.json_field import render_json_field

NEW_TASK = "➕ New task…"
_FORMS = "_editor_forms"  # {form id: EditorForm}
_SHOWN = "_editor_shown"  # the form id whose values the widgets hold
_JSON_TAB = "_editor_json_tab"  # the JSON tab last opened
_MISSING = object()
JSON_LABELS = {"input_defaults": "Input defaults", "capabilities": "Capabilities", "pricing": "Pricing"}
_TEXT_FIELDS = ("display_name", "model_key", "version", "model_family", "endpoint_path", "output_format")
# Each draft field and the widget key that edits it (task is edited by two: ed_task and ed_new_task).
WIDGET_KEYS = {
    **{f: f"ed_{f}" for f in (*_TEXT_FIELDS, *JSON_FIELDS, "modality", "task", "priority", "is_active", "is_default")},
    "provider_id": "ed_provider",
}


@dataclass
class EditorForm:
    """One model's form: the row it was opened from, the draft as loaded (base), the draft, what was edited."""

    form_id: str
    opened: dict[str, Any]  # the row as opened (the diff's "before"; its row_version guards the save)
    base: dict[str, Any]  # the draft as loaded, before any edit
    draft: dict[str, Any]  # every field, always: what is saved
    edited: set[str] = field(default_factory=set)  # fields the person changed through a widget
    reseed: bool = True  # put the draft into every widget at the start of the next run

    @property
    def has_edits(self) -> bool:
        return bool(self.edited) or self.draft != self.base


def _forms() -> dict[str, EditorForm]:
    return st.session_state.setdefault(_FORMS, {})


def load(form_id: str, template: dict[str, Any], opened: dict[str, Any]) -> EditorForm:
    """The form for form_id, its draft complete before any widget is drawn; call before the first widget.

    A form with edits is kept as it is (across reruns, errors, other pages and other models) until saved,
    discarded or forgotten. A form without edits follows the database: if the row changed since it was
    opened, the form reloads it. Forms without edits of other models are dropped.
    """
    forms = _forms()
    form = forms.get(form_id)
    outdated = form is not None and opened and opened.get("row_version") != form.opened.get("row_version")
    if outdated and not form.has_edits:
        form = None  # untouched and out of date: start again from the row as it is now
    if form is None:
        draft = draft_from_row(template)
        form = EditorForm(form_id, dict(opened), dict(draft), dict(draft))
        forms[form_id] = form
    for other in [k for k, f in forms.items() if k != form_id and not f.has_edits]:
        del forms[other]
    _seed(form)
    return form


def _seed(form: EditorForm) -> None:
    """Put the draft into the widgets: all of them on a new form or after a reload, else each widget that has
    no state (never drawn yet, or dropped by Streamlit while another page showed) or that disagrees with it."""
    ss = st.session_state
    everything = form.reseed or ss.get(_SHOWN) != form.form_id
    for name in FORM_FIELDS:
        if name not in form.draft:
            continue  # never expected; the review refuses to save such a draft and says so
        if name == "task":
            if everything or _state("ed_task", _MISSING) is _MISSING or _task_from_widgets() != form.draft["task"]:
                ss["ed_task"] = form.draft["task"] or NEW_TASK
                ss["ed_new_task"] = ""
            continue
        key = WIDGET_KEYS[name]
        if everything or _state(key, _MISSING) != form.draft[name]:
            ss[key] = form.draft[name]
    form.reseed = False
    ss[_SHOWN] = form.form_id


def _state(key: str, default: Any = None) -> Any:
    """A widget's value in session_state, or default when it has none (whatever way Streamlit says so)."""
    try:
        return st.session_state[key] if key in st.session_state else default
    except KeyError:
        return default


def _task_from_widgets() -> str:
    if _state("ed_task") == NEW_TASK:
        return _state("ed_new_task") or ""
    return _state("ed_task") or ""


def _edited(form_id: str, name: str) -> None:
    """on_change of every widget: copy its value into the draft and remember the person edited it."""
    form = _forms().get(form_id)
    if form is None:
        return
    form.draft[name] = _task_from_widgets() if name == "task" else _state(WIDGET_KEYS[name])
    form.edited.add(name)


def is_loaded(form_id: str) -> bool:
    return form_id in _forms()


def reapply_on(form_id: str, current: dict[str, Any]) -> None:
    """After a conflict: the person's edited fields on top of current, every other field as current has it.

    The form then compares with current (and its row_version guards the next save); the widgets are refilled at
    the start of the next run (they cannot change once drawn).
    """
    form = _forms()[form_id]
    latest = draft_from_row(current)
    mine = mine_changed(form.base, form.draft, form.edited)
    form.draft = reapply(form.base, latest, form.draft, mine)
    form.opened, form.base, form.edited, form.reseed = dict(current), latest, mine, True


def discard(form_id: str) -> None:
    """Drop the form's edits: the next load() starts again from the database."""
    _forms().pop(form_id, None)


def forget(form_id: str | None = None) -> None:
    """The next load() reloads from the database (after a save or an action); default: the form shown."""
    discard(form_id if form_id is not None else st.session_state.get(_SHOWN, ""))


def render(
    form: EditorForm,
    *,
    providers: list[dict[str, Any]],
    tasks: list[tuple[str, str]],
    problems: dict[str, str],
    kept: dict[str, str] | None = None,
) -> None:
    """Draw the form's widgets: each shows the draft (via its ed_* key) and writes its edits back into it."""
    draft = {"provider_id": None, "modality": "image", "task": "", **form.draft}

    def on(name: str) -> dict[str, Any]:
        return {"on_change": _edited, "args": (form.form_id, name)}

    names = {str(p["id"]): p["display_name"] + ("" if p["is_active"] else " (inactive)") for p in providers}
    if draft["provider_id"] and draft["provider_id"] not in names:
        names[draft["provider_id"]] = f"Provider {draft['provider_id']} (not visible to you)"

    def mark(column: Any, *fields: str) -> None:
        """A field's problem under its widget, named by the form's label (the list above Save names them too)."""
        for name in fields:
            if name in problems:
                column.error(md_escape(problem_text(name, problems[name])), icon=":material/error:")

    st.subheader("Identity")
    a, b = st.columns(2)
    a.text_input("Display name", key="ed_display_name", max_chars=TEXT_LIMITS["display_name"], **on("display_name"))
    mark(a, "display_name")
    b.text_input(
        "Model key",
        key="ed_model_key",
        max_chars=TEXT_LIMITS["model_key"],
        help="The provider's identifier, e.g. stability-ai/sdxl:39ed52f2…",
        **on("model_key"),
    )
    mark(b, "model_key")
    a, b, c = st.columns(3)
    a.selectbox(
        "Provider",
        list(names),
        key="ed_provider",
        format_func=lambda v: visible(names.get(v, v)),
        placeholder="Pick a provider",
        **on("provider_id"),
    )
    mark(a, "provider_id")
    b.text_input("Version", key="ed_version", max_chars=TEXT_LIMITS["version"], **on("version"))
    mark(b, "version")
    c.text_input("Model family", key="ed_model_family", max_chars=TEXT_LIMITS["model_family"], **on("model_family"))
    mark(c, "model_family")

    st.subheader("Routing")
    a, b, c = st.columns(3)
    modalities = [*MODALITIES, *([draft["modality"]] if draft["modality"] not in MODALITIES else [])]
    modality = a.selectbox("Modality", modalities, key="ed_modality", format_func=visible, **on("modality"))
    mark(a, "modality")
    chosen = st.session_state.get("ed_task")
    options = sorted({t for m, t in tasks if m == modality} | ({chosen, draft["task"]} - {NEW_TASK, None, ""}))
    task = b.selectbox("Task", [*options, NEW_TASK], key="ed_task", format_func=visible, **on("task"))
    if task == NEW_TASK:
        b.text_input(
            "New task",
            key="ed_new_task",
            max_chars=TEXT_LIMITS["task"],
            placeholder="e.g. image-to-video",
            **on("task"),
        )
    mark(b, "task")
    c.number_input(
        "Priority",
        key="ed_priority",
        min_value=INT4[0],
        max_value=INT4[1],
        step=1,
        help="Lower is preferred: routing tries priority 1 before 2.",
        **on("priority"),
    )
    mark(c, "priority")
    a, b = st.columns(2)
    a.toggle("Active (used for routing)", key="ed_is_active", **on("is_active"))
    b.toggle("Default for its modality and task", key="ed_is_default", **on("is_default"))
    mark(a, "is_active")
    mark(b, "is_default")

    st.subheader("Endpoint")
    a, b = st.columns(2)
    a.text_input("Endpoint path", key="ed_endpoint_path", max_chars=TEXT_LIMITS["endpoint_path"], **on("endpoint_path"))
    mark(a, "endpoint_path")
    b.text_input(
        "Output format",
        key="ed_output_format",
        max_chars=TEXT_LIMITS["output_format"],
        placeholder="e.g. image/jpeg",
        **on("output_format"),
    )
    mark(b, "output_format")

    st.subheader("Parameters, capabilities and pricing")
    # The open tab is kept (a Save reloads the page, which would otherwise show the first tab again): the tabs
    # track it in their state, and _JSON_TAB keeps it while another page shows.
    tabs = st.tabs(
        list(JSON_LABELS.values()), key="ed_json_tab", default=st.session_state.get(_JSON_TAB), on_change=_remember_tab
    )
    for tab, name in zip(tabs, JSON_FIELDS, strict=True):
        with tab:
            render_json_field(
                name,
                JSON_LABELS[name],
                key=f"ed_{name}",
                problems=problems,
                kept=kept or {},
                on_change=_edited,
                args=(form.form_id, name),
            )


def _remember_tab() -> None:
    tab = st.session_state.get("ed_json_tab")
    if tab in JSON_LABELS.values():
        st.session_state[_JSON_TAB] = tab
