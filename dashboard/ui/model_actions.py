"""The editor's side panel: make default, activate or deactivate, duplicate, delete, each confirmed."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.services import ModelInUse, ServiceError
from dashboard.services.traffic_reads import TrafficService
from dashboard.text import md_escape
from dashboard.ui import cached, model_form, paths
from dashboard.ui.confirm import confirm_or_cancel
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
    moved = TrafficService(models.engine, user_id=models.user_id)
    name, slot = model["display_name"], f"{model['modality']}/{model['task']}"
    st.subheader("Actions")
    try:
        if model["is_default"]:
            st.success(md_escape(f"Default for {slot}"), icon=":material/star:")
        elif model["is_active"]:
            if reviewed(
                "Make default",
                key="act_default",
                primary=True,
                prompt=f"Make {name} the default for {slot}?",
                impacts=lambda: models.review_change({"is_default": True}, model_id=model["id"]),
                traffic=lambda: moved.of_default(model["id"]),
            ):
                replaced = models.set_default(model["id"])
                _done(
                    f"{name} is now the default for {slot}"
                    + (f"; it replaced {replaced['display_name']}." if replaced else ".")
                )
        if model["is_active"]:
            if reviewed(
                "Deactivate",
                key="act_deactivate",
                prompt=f"Take {name} out of routing?",
                impacts=lambda: models.review_change({"is_active": False}, model_id=model["id"]),
                traffic=lambda: moved.of_write({"is_active": False}, model_id=model["id"]),
            ):
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


def _refuse_delete(model: dict[str, Any], exc: ModelInUse) -> None:
    message = str(exc)
    if not model["is_active"]:
        message = (
            f"{exc.job_count:,} job(s) reference this model, so it cannot be deleted. It is already "
            "inactive: routing does not use it, and its job history is kept."
        )
    st.session_state["_delete_refused"] = str(model["id"])
    st.session_state["_delete_refused_message"] = message
    st.session_state.pop(_DELETE_PENDING, None)
    st.rerun()


_DELETE_PENDING = "_confirm_act_delete"


def _render_delete(model: dict[str, Any]) -> None:
    """Delete: jobs referencing the model are looked for first (the database refuses to delete it then), so
    the confirmation only appears for a model that can go; a refused one is offered deactivation instead."""
    name = model["display_name"]
    models = context().models
    refused = st.session_state.get("_delete_refused") == str(model["id"])
    if refused:
        st.error(md_escape(st.session_state["_delete_refused_message"]))
        if model["is_active"] and st.button("Deactivate instead", key="act_deactivate_instead", type="primary"):
            st.session_state.pop("_delete_refused")
            models.set_active(model["id"], False)
            _done(f"{name} is inactive: routing no longer uses it, and its job history is kept.")
    if not st.session_state.get(_DELETE_PENDING):
        tip = "Looks again for jobs that reference it (they may have been removed)" if refused else None
        if st.button("Delete", key="act_delete", width="stretch", help=tip):
            try:
                models.check_deletable(model["id"])
            except ModelInUse as exc:
                _refuse_delete(model, exc)
            st.session_state.pop("_delete_refused", None)
            st.session_state[_DELETE_PENDING] = True
            st.rerun()
        return
    prompt = (
        f"Delete {name}? Routing stops using it at once, and no job references it. It can be brought back "
        'from History ("Bring this model back" on its delete), with the same id and settings.'
    )
    answer = confirm_or_cancel("act_delete", prompt=prompt, confirm_label="Delete")
    if answer is None:
        return
    st.session_state.pop(_DELETE_PENDING, None)
    if answer is False:
        st.rerun()
    try:
        models.delete_model(model["id"], expected_version=model["row_version"])
    except ModelInUse as exc:  # a job arrived after the check
        _refuse_delete(model, exc)
    cached.clear()
    flash(f"{name} was deleted. History can bring it back.")
    st.switch_page(paths.MODELS)
