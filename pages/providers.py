"""Providers: the list with model counts, editing one (saying first what deactivating it does), adding one."""

import pandas as pd
import streamlit as st

from dashboard.text import visible, visible_frame
from dashboard.ui import cached
from dashboard.ui.context import context
from dashboard.ui.provider_form import render_add_form, render_editor

_text, _number = st.column_config.TextColumn, st.column_config.NumberColumn
COLUMNS = {
    "display_name": _text("Provider"),
    "name": _text("Name"),
    "base_url": _text("Base URL"),
    "auth_scheme": _text("Auth scheme"),
    "is_active": st.column_config.CheckboxColumn("Active"),
    "models": _number("Models"),
    "active_models": _number("Active models"),
}

ctx = context()
st.title("Providers")
providers = cached.providers()
if providers:
    frame = pd.DataFrame(providers, columns=list(COLUMNS))
    st.dataframe(visible_frame(frame), column_config=COLUMNS, hide_index=True, width="stretch", key="providers_table")
    by_id = {str(p["id"]): p for p in providers}
    if st.session_state.get("provider_pick") not in by_id:  # deleted meanwhile, or never picked
        st.session_state.pop("provider_pick", None)
    picked = st.selectbox(
        "Provider to edit",
        list(by_id),
        index=None,
        key="provider_pick",
        format_func=lambda i: visible(f"{by_id[i]['display_name']} ({by_id[i]['name']})"),
        placeholder="Pick a provider to edit it",
    )
    if picked:
        render_editor(by_id[picked], ctx.providers)
else:
    st.info("No providers yet. Add the first one below: models are routed to a provider's API.")

render_add_form(ctx.providers, expanded=not providers)
