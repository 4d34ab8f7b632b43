"""Routing preview (admins): what job routing would pick for a slot, the fallbacks, who is left out and why;
reordering a slot's priorities, at any number of models."""

import streamlit as st

from dashboard.export import to_csv_bytes
from dashboard.services.validation import MODALITIES
from dashboard.text import visible_frame
from dashboard.ui import cached, routing_view
from dashboard.ui.context import require_admin
from dashboard.ui.model_filters import ALL, task_select
from dashboard.ui.url import init_state, sync_url, url_param

ALL_SLOTS = "All slots"
require_admin()
st.title("Routing preview")
st.caption(
    "What the platform's job routing (the seed's routing query) does now: the first candidate is picked, "
    "the rest are the fallback order."
)

tasks = cached.tasks()
init_state("r_modality", url_param("modality", list(MODALITIES), ALL_SLOTS))
pick_modality, pick_task = st.columns([1, 2])
modality = pick_modality.selectbox("Modality", [ALL_SLOTS, *MODALITIES], key="r_modality")
if modality == ALL_SLOTS:
    sync_url({"modality": "", "task": ""})
    previews, summary = routing_view.all_slots()
    if not previews:
        st.info("The catalogue has no models yet.")
        st.stop()
    errors = sum(p.has_errors for p in previews)
    st.metric("Slots whose jobs cannot be routed", errors, border=True)
    st.dataframe(
        visible_frame(summary),
        hide_index=True,
        width="stretch",
        height=35 * (len(summary) + 1) + 3,  # every slot in view
        column_config={"Warnings": st.column_config.TextColumn("Warnings", width="large")},
    )
    st.download_button(
        "Export CSV",
        to_csv_bytes(summary),
        file_name="routing.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    st.stop()

task = task_select(pick_task, modality, [t for t in tasks if t[0] == modality], key="r_task")
if task == ALL:
    sync_url({"modality": modality, "task": ""})
    st.info("Pick a task to see how its jobs are routed.")
    st.stop()
sync_url({"modality": modality, "task": task})
preview = routing_view.slot_preview(modality, task)
routing_view.render_slot(preview)
st.divider()
routing_view.render_reorder(modality, task, preview.models)
