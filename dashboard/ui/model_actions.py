"""The editor's side panel: make default, activate or deactivate, duplicate, delete, each confirmed."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.services import ModelInUse, ServiceError
from dashboard.text import md_escape
from dashboard.ui import cached, model_form, paths
from dashboard.ui.confirm import confirmed
from dashboard.ui.context import context
from dashboard.ui.feedback import flash, show_error
from dashboard.ui.reviewed import reviewed


def _done(message: str) -> None:
    cached.clear()
    model_form.forget()
    flash(message)
    st.rerun()


def render_actions(model: dict[str, Any]) -> None:
    models = context().models
    name, slot = model["display_name"], f"{model['modality']}/{model['task']}"
    st.subheader("Actions")
    try:
        if model["is_default"]:
            st.success(md_escape(f"Default for {slot}"), icon=":material/star:")
        elif model["is_active"]:
            if reviewed("Make default", key="act_default", primary=True, prompt=f"Make {name} the default for {slot}?",
                        impacts=lambda: models.review_change({"is_default": True}, model_id=model["id"])):  # fmt: skip
                replaced = models.set_default(model["id"])
                _done(f"{name} is now the default for {slot}"
                      + (f"; it replaced {replaced['display_name']}." if replaced else "."))  # fmt: skip
        if model["is_active"]:
            if reviewed("Deactivate", key="act_deactivate", prompt=f"Take {name} out of routing?",
                        impacts=lambda: models.review_change({"is_active": False}, model_id=model["id"])):  # fmt: skip
                models.set_active(model["id"], False, expected_version=model["row_version"])
                _done(f"{name} is inactive: routing no longer uses it.")
        elif st.button("Activate", key="act_activate", width="stretch"):
            models.set_active(model["id"], True, expected_version=model["row_version"])
            _done(f"{name} is active again.")
        if st.button("Duplicate as a new version", key="act_duplicate", width="stretch"):
            st.switch_page(paths.EDITOR, query_params={"new": "1", "from": str(model["id"])})
        _render_delete(model)
    except ServiceError as exc:
        show_error(exc)


def _render_delete(model: dict[str, Any]) -> None:
    name = model["display_name"]
    if st.session_state.get("_delete_refused") == str(model["id"]):
        st.error(md_escape(st.session_state["_delete_refused_message"]))
        if model["is_active"] and st.button("Deactivate instead", key="act_deactivate_instead", type="primary"):
            st.session_state.pop("_delete_refused")
            context().models.set_active(model["id"], False)
            _done(f"{name} is inactive: routing no longer uses it, and its job history is kept.")
        return
    if confirmed("Delete", key="act_delete", prompt=f"Delete {name} for good? This cannot be undone.",
                 confirm_label="Delete"):  # fmt: skip
        try:
            context().models.delete_model(model["id"], expected_version=model["row_version"])
        except ModelInUse as exc:
            st.session_state["_delete_refused"] = str(model["id"])
            st.session_state["_delete_refused_message"] = str(exc)
            st.rerun()
        cached.clear()
        flash(f"{name} was deleted.")
        st.switch_page(paths.MODELS)
