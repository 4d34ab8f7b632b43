"""Pieces of the model editor page: choosing a model, the template for a new one, the table of changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.services import ModelService
from dashboard.services.diff import Change
from dashboard.services.editing import SavePreview, label, problem_text, top_field
from dashboard.services.routing_rules import Impact
from dashboard.services.traffic import Traffic
from dashboard.services.traffic_reads import TrafficService
from dashboard.services.validation import JSON_FIELDS
from dashboard.text import md_escape, visible, visible_frame
from dashboard.ui import model_search, paths
from dashboard.ui.impact_review import render_impacts
from dashboard.ui.model_views import when_utc

BLANK = {
    "modality": "image",
    "task": "generation",
    "priority": 0,
    "is_active": True,
    "is_default": False,
    "input_defaults": {},
    "capabilities": {},
    "pricing": {},
}


def _label(row: dict[str, Any]) -> str:
    return f"{row['display_name']} · {row['provider_name']}"


def _matches(text: str, *, keep: str | None = None) -> dict[str, str]:
    return model_search.matches(text, keep=keep, label=_label)


def read_switcher() -> None:
    """Work out the switcher's labels of every model (at 10,000 models, 140 ms the first time in a process):
    dashboard/ui/landing_warmup.py does, while an admin reads the Overview."""
    _matches("")


def pick_model() -> None:
    """No model in the URL: find one, or start a new one."""
    st.title("Model editor")
    text = st.text_input("Find a model", key="ed_pick_find", max_chars=100, placeholder="Name or provider")
    labels = _matches(text)
    choice = st.selectbox(
        "Open a model",
        list(labels),
        format_func=lambda i: visible(labels[i]),
        index=None,
        placeholder=model_search.placeholder(len(labels)),
        help=model_search.HELP,
    )
    if choice:
        st.switch_page(paths.EDITOR, query_params={"id": choice})
    if st.button("New model", icon=":material/add:", type="primary"):
        st.switch_page(paths.EDITOR, query_params={"new": "1"})


_GOTO = "_editor_goto"  # the model picked in the switcher, opened at the start of the next run
_SWITCH = "ed_switch"


def _picked() -> None:
    st.session_state[_GOTO] = st.session_state.get(_SWITCH)


def render_switcher(current_id: str | None) -> None:
    """A picker at the top of the editor: open another model (a draft with edits waits until you come back)."""
    goto = st.session_state.pop(_GOTO, None)
    if goto and goto != current_id and goto in model_search.model_ids():
        st.switch_page(paths.EDITOR, query_params={"id": goto})
    find, pick = st.columns([1, 2], vertical_alignment="bottom")
    text = find.text_input("Find a model", key="ed_find", max_chars=100, placeholder="Name or provider")
    choices = _matches(text, keep=current_id)
    st.session_state[_SWITCH] = current_id if current_id in choices else None  # follows the model shown
    pick.selectbox(
        "Open another model",
        list(choices),
        key=_SWITCH,
        format_func=lambda i: visible(choices.get(i, i)),
        placeholder="Type a name to open another model",
        on_change=_picked,
        help=model_search.HELP,
    )


def record_line(model: dict[str, Any], me: object) -> str:
    """The model's id, when it was created and by whom, and when it was last updated, in one line."""
    by = model.get("created_by")
    who = "" if by is None else " by you" if str(by) == str(me) else f" by user {by}"
    created, updated = when_utc(model.get("created_at"), "unknown"), when_utc(model.get("updated_at"), "unknown")
    return f"Id {model['id']} · created {created}{who} · updated {updated}"


def source_for_new(models: ModelService, source_id: str | None) -> dict[str, Any]:
    """A blank model, or a copy of another one as the start of its next version (never a default)."""
    if not source_id:
        return dict(BLANK)
    source = models.get_model(source_id)
    return {**source, "version": "", "is_default": False}


def render_changes(
    changes: list[Change],
    problems: dict[str, str],
    *,
    impacts: Sequence[Impact] = (),
    unedited: Sequence[str] = (),
    kept: dict[str, str] | None = None,
    traffic: Traffic | None = None,
) -> None:
    """What saving would change, or why it cannot be saved yet; what it does to routing (worst first) and fields
    the person did not edit (which a save asks to confirm) called out under the table."""
    for path, problem in (kept or {}).items():
        if top_field(path) not in JSON_FIELDS:  # JSON fields say theirs beside their text
            st.warning(
                md_escape(f"As stored, {path} {problem}. It is kept exactly as it is unless you edit it."),
                icon=":material/warning:",
            )
    if problems:
        st.error(md_escape("Fix before saving: " + "; ".join(problem_text(k, v) for k, v in problems.items())))
        return
    if not changes:
        st.caption("No changes yet.")
        return
    table = pd.DataFrame(
        [(c.path, c.kind, c.shown(c.before), c.shown(c.after)) for c in changes],
        columns=["Field", "Change", "Before", "After"],
    )
    st.dataframe(visible_frame(table), hide_index=True, width="stretch")
    if impacts:
        render_impacts(list(impacts), traffic=traffic)
    if unedited:
        st.warning(
            md_escape(
                f"You did not edit: {', '.join(label(n) for n in unedited)}. Saving changes them "
                "too, so it asks you to confirm first."
            ),
            icon=":material/report:",
        )


def save_traffic(models: ModelService, opened: dict[str, Any], preview: SavePreview) -> Traffic | None:
    """The traffic saving would move, when saving changes routing (the draft as checked, over the model opened)."""
    if not preview.impacts or preview.review.clean is None:
        return None
    model_id = None if preview.review.is_new else opened["id"]
    return TrafficService(models.engine, user_id=models.user_id).of_write(preview.review.clean, model_id=model_id)
