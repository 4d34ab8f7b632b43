"""The Providers page's forms: editing one provider (reviewing what deactivating it does to routing first) and
adding one."""

from __future__ import annotations

import streamlit as st

from dashboard.services.errors import EditConflict, InvalidModel, ServiceError
from dashboard.services.providers import AUTH_SCHEMES, ProviderService
from dashboard.services.traffic_reads import TrafficService
from dashboard.text import md_escape, visible
from dashboard.ui import cached
from dashboard.ui.feedback import flash, show_error
from dashboard.ui.impact_review import impact_review

EDITABLE = ("display_name", "name", "base_url", "auth_scheme", "is_active")
SCHEMES = ["", *AUTH_SCHEMES]  # "" stores no scheme (NULL)
NEW = {field: f"new_provider_{field}" for field in ("name", "display_name", "base_url", "auth_scheme")}


def key(provider_id: str, field: str) -> str:
    return f"provider_{field}_{provider_id}"


def forget_edits(provider_id: str) -> None:
    """Drop the edit form's state, so that it shows the provider as it is stored now."""
    for field in (*EDITABLE, "version", "keep_active"):
        st.session_state.pop(key(provider_id, field), None)


def show_problems(exc: ServiceError) -> None:
    """One message per field to fix, or the one error."""
    problems = exc.problems if isinstance(exc, InvalidModel) else {}
    for field, problem in problems.items():
        show_error(InvalidModel({field: problem}))
    if not problems:
        show_error(exc)


def render_editor(provider: dict, service: ProviderService) -> None:
    """The edit form; switching Active off shows the routing impact, and saving it needs Confirm (Cancel turns
    Active back on)."""
    pid, before = str(provider["id"]), {f: provider[f] or "" for f in EDITABLE[:4]}
    before["is_active"] = bool(provider["is_active"])  # the fields as the widgets hold them
    if key(pid, "display_name") not in st.session_state:  # a fresh look: the form starts as stored
        st.session_state[key(pid, "version")] = provider["row_version"]
        st.session_state.update({key(pid, f): v for f, v in before.items()})
    if st.session_state.pop(key(pid, "keep_active"), False):  # the deactivation was cancelled
        st.session_state[key(pid, "is_active")] = True
    st.subheader(f"Edit {md_escape(provider['display_name'])}")
    left, right = st.columns(2)
    left.text_input("Display name", key=key(pid, "display_name"))
    right.text_input("Name", key=key(pid, "name"), help="Lowercase letters, digits, '.', '-' or '_'")
    left.text_input("Base URL", key=key(pid, "base_url"), placeholder="https://api.example.com/v1")
    schemes = SCHEMES if before["auth_scheme"] in SCHEMES else [*SCHEMES, before["auth_scheme"]]
    right.selectbox(
        "Auth scheme", schemes, format_func=lambda v: visible(v) or "(not set)", key=key(pid, "auth_scheme")
    )
    active = st.toggle("Active: routing may send jobs to its models", key=key(pid, "is_active"))
    if before["is_active"] and not active:
        try:
            impacts = service.routing_impact(pid)
            traffic = TrafficService(service.engine, user_id=service.user_id).of_provider(pid)
        except ServiceError as exc:
            show_error(exc)
            return
        answer = impact_review(
            key(pid, "deactivate"),
            impacts,
            action_label="Deactivate and save",
            prompt=f"Deactivate {provider['display_name']}? Routing stops sending jobs to its models.",
            traffic=traffic,
        )
        if answer is False:
            st.session_state[key(pid, "keep_active")] = True
            st.rerun()
        if answer:
            _save(pid, before, service)
        return
    if st.button("Save", type="primary", key=key(pid, "save")):
        _save(pid, before, service)


def _save(pid: str, before: dict, service: ProviderService) -> None:
    after = {f: st.session_state[key(pid, f)] for f in EDITABLE}
    changes = {f: v for f, v in after.items() if v != before[f]}
    try:
        saved = service.update_provider(pid, changes, expected_version=st.session_state[key(pid, "version")])
    except EditConflict as exc:
        show_error(exc)
        st.info(
            "Nothing was saved and your changes are still in the form. Load the latest version to see "
            "theirs, then make your changes again."
        )
        st.button("Load the latest version", key=key(pid, "reload"), on_click=forget_edits, args=(pid,))
        return
    except ServiceError as exc:
        show_problems(exc)
        return
    cached.clear()
    forget_edits(pid)
    flash(f"Saved {saved['display_name']}.")
    st.rerun()


def render_add_form(service: ProviderService, *, expanded: bool) -> None:
    """Adding a provider: name, display name, base URL and auth scheme."""
    with st.expander("Add provider", expanded=expanded, icon=":material/add:"):
        with st.form("add_provider"):
            st.text_input("Name", key=NEW["name"], max_chars=63, placeholder="e.g. replicate")
            st.text_input("Display name", key=NEW["display_name"], max_chars=100, placeholder="e.g. Replicate")
            st.text_input("Base URL", key=NEW["base_url"], placeholder="https://api.example.com/v1")
            st.selectbox("Auth scheme", SCHEMES, format_func=lambda v: v or "(not set)", key=NEW["auth_scheme"])
            submitted = st.form_submit_button("Add provider", type="primary")
        if not submitted:
            return
        try:
            created = service.create_provider({f: st.session_state[k] for f, k in NEW.items()})
        except ServiceError as exc:
            show_problems(exc)
            return
        cached.clear()
        for widget in NEW.values():
            st.session_state.pop(widget, None)
        flash(f"Added {created['display_name']}.")
        st.rerun()
