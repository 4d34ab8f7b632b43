"""Bulk changes from the Models table: keep the selection on its models, review the routing impact, confirm."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.services.bulk import BulkChange, BulkReview
from dashboard.services.errors import ServiceError
from dashboard.services.validation import INT4
from dashboard.text import md_escape, visible, visible_frame
from dashboard.ui import cached, paths
from dashboard.ui.context import context
from dashboard.ui.feedback import ICONS, flash, show_error
from dashboard.ui.impact_review import impact_review

Row = dict[str, Any]
ACTIONS = {
    "activate": "Activate",
    "deactivate": "Deactivate",
    "priority": "Set priority",
    "provider": "Move to provider",
}
_REVIEW = "_bulk_review"
_SEEN = "_bulk_table_seen"  # the view and the model ids of the table as last drawn


# ─── The Models table's selection ──────────────────────────────────────────────────────────
def keep_selection(table_key: str, view: Hashable, ids: list[str]) -> None:
    """Call before drawing the table: keep the selection on the same models when the rows move.

    Streamlit keeps a table's selection as row positions, which mean other models once the rows change:
    a change just applied or made by someone else reorders them, another page or filter shows others.
    The positions are read against the rows the person saw (the previous run's) and moved to where those
    models are now; models no longer shown leave the selection, with a notice if the person did not
    change the view themselves.
    """
    seen, st.session_state[_SEEN] = st.session_state.get(_SEEN), (view, ids)
    if seen is None or seen == (view, ids):
        return
    state = st.session_state.get(table_key)
    positions = state.get("selection", {}).get("rows", []) if isinstance(state, dict) else []
    chosen = {seen[1][p] for p in _valid(positions, len(seen[1]))}
    if not chosen:
        return
    st.session_state[table_key] = {
        "selection": {"rows": [n for n, i in enumerate(ids) if i in chosen], "columns": [], "cells": []}
    }
    gone = len(chosen - set(ids))
    if gone and seen[0] == view:
        st.toast(
            f"{gone} selected model{'s' if gone != 1 else ''} left the table (deleted, or changed so that "
            "it no longer matches the filters) and left the selection.",
            icon=ICONS["info"],
        )


def _valid(positions: Any, size: int) -> list[int]:
    """The positions that are rows of a table of this size, once each (the session state can hold anything)."""
    if not isinstance(positions, list):
        return []
    return list(dict.fromkeys(p for p in positions if isinstance(p, int) and not isinstance(p, bool) and 0 <= p < size))


def selected_rows(event: Any, frame: pd.DataFrame) -> list[Row]:
    """The selected rows of the table, ignoring any position that is not one of its rows."""
    positions = event.selection.rows if event and event.selection else []
    return [frame.iloc[p].to_dict() for p in _valid(positions, len(frame))]


def render_bulk_bar(selected: list[Row]) -> None:
    """What an admin can do with the selected rows: open one in the editor, or change them all at once."""
    n = len(selected)
    names = [str(r["display_name"]) for r in selected]
    st.subheader(f"{n} model{'s' if n != 1 else ''} selected")
    st.caption(md_escape(", ".join(names[:12]) + (f" and {n - 12} more" if n > 12 else "")))
    if n == 1 and st.button("Open in editor", key="bulk_open", icon=":material/edit:", type="primary"):
        st.switch_page(paths.EDITOR, query_params={"id": str(selected[0]["id"])})

    providers = {str(p["id"]): p for p in cached.provider_choices()}
    action_col, value_col, review_col = st.columns([2, 2, 1], vertical_alignment="bottom")
    kind = action_col.selectbox("Change the selected models", list(ACTIONS), format_func=ACTIONS.get, key="bulk_action")
    value: Any = None
    if kind == "priority":
        value = value_col.number_input(
            "New priority (lower is preferred)",
            min_value=INT4[0],
            max_value=INT4[1],
            value=1,
            step=1,
            key="bulk_priority",
        )
    elif kind == "provider":
        value = value_col.selectbox(
            "Provider",
            list(providers),
            index=None,
            key="bulk_provider",
            placeholder="Pick a provider",
            format_func=lambda i: visible(_provider_label(providers, i)),
        )
    ids = tuple(str(r["id"]) for r in selected)
    spec = (kind, value)
    if review_col.button("Review", key="bulk_review_button", width="stretch"):
        previous = st.session_state.get(_REVIEW) or {}
        st.session_state[_REVIEW] = {"ids": ids, "spec": spec, "round": previous.get("round", 0) + 1, "seen": None}
    review = st.session_state.get(_REVIEW)
    if review and (review["ids"], review["spec"]) != (ids, spec):
        st.session_state.pop(_REVIEW)  # the selection or the change moved on: review again
        review = None
    if not review:
        st.caption("Review shows what the change does to routing before anything is saved.")
        return
    _render_review_and_apply(review, ids, spec)


def _provider_label(providers: dict[str, Row], provider_id: str) -> str:
    provider = providers.get(provider_id)
    if provider is None:
        return provider_id
    return provider["display_name"] + ("" if provider["is_active"] else " (inactive)")


def _change(spec: tuple[str, Any]) -> BulkChange:
    kind, value = spec
    if kind == "priority":
        return BulkChange.set_priority(value)
    if kind == "provider":
        return BulkChange.move_to(value)
    return BulkChange(kind)  # the service refuses anything but activate and deactivate


def _render_review_and_apply(review: dict[str, Any], ids: tuple[str, ...], spec: tuple[str, Any]) -> None:
    ctx = context()
    try:
        change = _change(spec)
        result = ctx.bulk.review(list(ids), change)
    except ServiceError as exc:
        show_error(exc)
        return
    frame = pd.DataFrame(result.models, columns=["model", "slot", "provider", "change"])
    st.dataframe(visible_frame(frame.rename(columns=str.capitalize)), hide_index=True, width="stretch")
    if review.pop("note", None):
        st.warning(
            "The catalogue changed while you were reviewing: the impact below is up to date now. "
            "Apply again if it is still what you want.",
            icon=ICONS["warning"],
        )
    seen, review["seen"] = review["seen"], ctx.data_version
    n = len(ids)
    answer = impact_review(
        f"bulk_apply_{review['round']}",
        result.impacts,
        action_label=f"Apply to {n} model{'s' if n != 1 else ''}",
        traffic=result.traffic,
        prompt=f"{result.describe()} now? All of them change, or none does.",
    )
    if answer is False:
        st.session_state.pop(_REVIEW, None)
        st.rerun()
    if not answer:
        return
    if seen is not None and seen != ctx.data_version:
        review["note"] = True  # what was confirmed is not what is shown now: show it again, and say why
        st.rerun()
    try:
        ctx.bulk.apply(list(ids), change)
    except ServiceError as exc:
        show_error(exc)
        return
    cached.clear()
    st.session_state.pop(_REVIEW, None)
    flash(done_message(result))
    st.rerun()


def done_message(result: BulkReview) -> str:
    done = {"Set": "Set", "Move": "Moved", "Activate": "Activated", "Deactivate": "Deactivated"}
    verb, rest = result.describe().split(" ", 1)
    text = f"{done[verb]} {rest}."
    blocked = [i.slot for i in result.impacts if i.severity == "error"]
    if blocked:
        text += f" Jobs of {', '.join(blocked)} cannot be routed now."
    return text
