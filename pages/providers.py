"""Providers: the list with model counts, editing one (saying first what deactivating it does), adding one."""

import pandas as pd
import streamlit as st

from dashboard.services.errors import EditConflict, InvalidModel, ServiceError
from dashboard.services.providers import AUTH_SCHEMES, ProviderService
from dashboard.text import md_escape, visible, visible_frame
from dashboard.ui import cached
from dashboard.ui.context import context
from dashboard.ui.feedback import flash, show_error

EDITABLE = ("display_name", "name", "base_url", "auth_scheme", "is_active")
SCHEMES = ["", *AUTH_SCHEMES]  # "" stores no scheme (NULL)
NEW = {field: f"new_provider_{field}" for field in ("name", "display_name", "base_url", "auth_scheme")}
_text, _number = st.column_config.TextColumn, st.column_config.NumberColumn
COLUMNS = {"display_name": _text("Provider"), "name": _text("Name"), "base_url": _text("Base URL"),
           "auth_scheme": _text("Auth scheme"), "is_active": st.column_config.CheckboxColumn("Active"),
           "models": _number("Models"), "active_models": _number("Active models")}  # fmt: skip


def key(provider_id: str, field: str) -> str:
    return f"provider_{field}_{provider_id}"


def forget_edits(provider_id: str) -> None:
    """Drop the edit form's state, so that it shows the provider as it is stored now."""
    for field in (*EDITABLE, "version", "confirm"):
        st.session_state.pop(key(provider_id, field), None)


def show_problems(exc: ServiceError) -> None:
    """One message per field to fix, or the one error."""
    problems = exc.problems if isinstance(exc, InvalidModel) else {}
    for field, problem in problems.items():
        show_error(InvalidModel({field: problem}))
    if not problems:
        show_error(exc)


def render_editor(provider: dict, service: ProviderService) -> None:
    pid, before = str(provider["id"]), {f: provider[f] or "" for f in EDITABLE[:4]}
    before["is_active"] = bool(provider["is_active"])  # the fields as the widgets hold them
    if key(pid, "display_name") not in st.session_state:  # a fresh look: the form starts as stored
        st.session_state[key(pid, "version")] = provider["row_version"]
        st.session_state.update({key(pid, f): v for f, v in before.items()})
    st.subheader(f"Edit {md_escape(provider['display_name'])}")
    left, right = st.columns(2)
    left.text_input("Display name", key=key(pid, "display_name"))
    right.text_input("Name", key=key(pid, "name"), help="Lowercase letters, digits, '.', '-' or '_'")
    left.text_input("Base URL", key=key(pid, "base_url"), placeholder="https://api.example.com/v1")
    schemes = SCHEMES if before["auth_scheme"] in SCHEMES else [*SCHEMES, before["auth_scheme"]]
    right.selectbox("Auth scheme", schemes, format_func=lambda v: visible(v) or "(not set)",
                    key=key(pid, "auth_scheme"))  # fmt: skip
    active = st.toggle("Active: routing may send jobs to its models", key=key(pid, "is_active"))
    deactivating, confirmed = before["is_active"] and not active, False
    if deactivating:
        impact = service.routing_impact(pid)
        st.warning(md_escape(f"Deactivating {provider['display_name']}: {impact.describe()}."))
        confirmed = st.checkbox("I understand: deactivate it anyway", key=key(pid, "confirm"))
    if not st.button("Save", type="primary", key=key(pid, "save")):
        return
    if deactivating and not confirmed:
        st.error("Tick “I understand” above to confirm the deactivation. Nothing was saved.")
        return
    after = {f: st.session_state[key(pid, f)] for f in EDITABLE}
    changes = {f: v for f, v in after.items() if v != before[f]}
    try:
        saved = service.update_provider(pid, changes, expected_version=st.session_state[key(pid, "version")])
    except EditConflict as exc:
        show_error(exc)
        st.info("Nothing was saved and your changes are still in the form. Load the latest version to see "
                "theirs, then make your changes again.")  # fmt: skip
        st.button("Load the latest version", key=key(pid, "reload"), on_click=forget_edits, args=(pid,))
        return
    except ServiceError as exc:
        show_problems(exc)
        return
    cached.clear()
    forget_edits(pid)
    flash(f"Saved {saved['display_name']}.")
    st.rerun()


ctx = context()
st.title("Providers")
providers = cached.providers()
if providers:
    frame = pd.DataFrame(providers, columns=list(COLUMNS))
    st.dataframe(visible_frame(frame), column_config=COLUMNS, hide_index=True, width="stretch", key="providers_table")
    by_id = {str(p["id"]): p for p in providers}
    if st.session_state.get("provider_pick") not in by_id:  # deleted meanwhile, or never picked
        st.session_state.pop("provider_pick", None)
    picked = st.selectbox("Provider to edit", list(by_id), index=None, key="provider_pick",
                          format_func=lambda i: visible(f"{by_id[i]['display_name']} ({by_id[i]['name']})"),
                          placeholder="Pick a provider to edit it")  # fmt: skip
    if picked:
        render_editor(by_id[picked], ctx.providers)
else:
    st.info("No providers yet. Add the first one below: models are routed to a provider's API.")

with st.expander("Add provider", expanded=not providers, icon=":material/add:"):
    with st.form("add_provider"):
        st.text_input("Name", key=NEW["name"], max_chars=63, placeholder="e.g. replicate")
        st.text_input("Display name", key=NEW["display_name"], max_chars=100, placeholder="e.g. Replicate")
        st.text_input("Base URL", key=NEW["base_url"], placeholder="https://api.example.com/v1")
        st.selectbox("Auth scheme", SCHEMES, format_func=lambda v: v or "(not set)", key=NEW["auth_scheme"])
        submitted = st.form_submit_button("Add provider", type="primary")
    if submitted:
        try:
            created = ctx.providers.create_provider({f: st.session_state[k] for f, k in NEW.items()})
        except ServiceError as exc:
            show_problems(exc)
        else:
            cached.clear()
            for widget in NEW.values():
                st.session_state.pop(widget, None)
            flash(f"Added {created['display_name']}.")
            st.rerun()
