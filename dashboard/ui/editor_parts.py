"""Pieces of the model editor page: choosing a model, the template for a new one, the table of changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.services import ModelService
from dashboard.services.catalogue import ModelFilters
from dashboard.services.diff import Change
from dashboard.services.editing import label, top_field
from dashboard.services.routing_rules import Impact
from dashboard.services.validation import JSON_FIELDS
from dashboard.text import md_escape, visible, visible_frame
from dashboard.ui import cached, paths
from dashboard.ui.impact_review import render_impacts

BLANK = {"modality": "image", "task": "generation", "priority": 0, "is_active": True, "is_default": False,
         "input_defaults": {}, "capabilities": {}, "pricing": {}}  # fmt: skip


def pick_model() -> None:
    """No model in the URL: choose one, or start a new one."""
    st.title("Model editor")
    rows, total = cached.browse(ModelFilters(sort="name"), limit=1000, offset=0)
    labels = {str(r["id"]): f"{r['display_name']} · {r['modality']}/{r['task']} · {r['provider_name']}" for r in rows}
    choice = st.selectbox("Open a model", list(labels), format_func=lambda i: visible(labels[i]), index=None,
                          placeholder=f"Pick one of {total:,} models, or type to search")  # fmt: skip
    if choice:
        st.switch_page(paths.EDITOR, query_params={"id": choice})
    if st.button("New model", icon=":material/add:", type="primary"):
        st.switch_page(paths.EDITOR, query_params={"new": "1"})


def source_for_new(models: ModelService, source_id: str | None) -> dict[str, Any]:
    """A blank model, or a copy of another one as the start of its next version (never a default)."""
    if not source_id:
        return dict(BLANK)
    source = models.get_model(source_id)
    return {**source, "version": "", "is_default": False}


def render_changes(changes: list[Change], problems: dict[str, str], *, impacts: Sequence[Impact] = (),
                   unedited: Sequence[str] = (), kept: dict[str, str] | None = None) -> None:  # fmt: skip
    """What saving would change, or why it cannot be saved yet; what it does to routing (worst first) and fields
    the person did not edit (which a save asks to confirm) called out under the table."""
    for path, problem in (kept or {}).items():
        if top_field(path) not in JSON_FIELDS:  # JSON fields say theirs beside their text
            st.warning(md_escape(f"As stored, {path} {problem}. It is kept exactly as it is unless you edit it."),
                       icon=":material/warning:")  # fmt: skip
    if problems:
        st.error(md_escape("Fix before saving: " + "; ".join(f"{k} {v}" for k, v in problems.items())))
        return
    if not changes:
        st.caption("No changes yet.")
        return
    table = pd.DataFrame([(c.path, c.kind, c.shown(c.before), c.shown(c.after)) for c in changes],
                         columns=["Field", "Change", "Before", "After"])  # fmt: skip
    st.dataframe(visible_frame(table), hide_index=True, width="stretch")
    if impacts:
        render_impacts(list(impacts))
    if unedited:
        st.warning(md_escape(f"You did not edit: {', '.join(label(n) for n in unedited)}. Saving changes them "
                             "too, so it asks you to confirm first."), icon=":material/report:")  # fmt: skip
