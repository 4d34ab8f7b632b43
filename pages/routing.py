"""Routing preview (admins): what job routing would pick for a slot, the fallbacks, who is left out and why;
reordering a slot's priorities."""

import pandas as pd
import streamlit as st

from dashboard.export import to_csv_bytes
from dashboard.services.routing import RoutingPreview, slots_table
from dashboard.services.validation import MODALITIES
from dashboard.text import md_escape, visible, visible_frame, visible_json
from dashboard.ui import cached
from dashboard.ui.bulk_view import render_reorder
from dashboard.ui.context import context, require_admin
from dashboard.ui.model_filters import ALL, task_select
from dashboard.ui.url import init_state, sync_url, url_param

ALL_SLOTS = "All slots"
require_admin()
service = context().routing
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
    previews = service.preview_all()
    if not previews:
        st.info("The catalogue has no models yet.")
        st.stop()
    summary = slots_table(previews)
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
preview: RoutingPreview = service.preview(modality=modality, task=task)

for warning in preview.warnings:
    show = st.error if warning.severity == "error" else st.warning
    show(md_escape(warning.message), icon=":material/error:" if warning.severity == "error" else ":material/warning:")
ranked, picked = st.columns([3, 2], gap="large")
with ranked:
    st.subheader("Candidates, best first")
    if preview.candidates:
        st.dataframe(
            visible_frame(
                pd.DataFrame(
                    [
                        {
                            "Rank": c.rank,
                            "Role": "picked" if c.rank == 1 else "fallback",
                            "Model": c.display_name,
                            "Provider": c.provider_name,
                            "Priority": c.priority,
                            "Default": c.is_default,
                        }
                        for c in preview.candidates
                    ]
                )
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No model can take these jobs.")
    st.subheader("Left out")
    if preview.excluded:
        st.dataframe(
            visible_frame(
                pd.DataFrame(
                    [
                        {
                            "Model": m.display_name,
                            "Provider": m.provider_name,
                            "Priority": m.priority,
                            "Default": m.is_default,
                            "Why": m.reason,
                        }
                        for m in preview.excluded
                    ]
                )
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("Every model of this slot can take its jobs.")
with picked:
    if preview.picked and preview.picked_row:
        st.subheader("Picked")
        st.markdown(f"**{md_escape(preview.picked.display_name)}** · {md_escape(preview.picked.provider_name)}")
        st.code(visible(preview.picked.model_key), language=None)  # a code block never parses markdown
        st.caption("Input defaults")
        st.json(visible_json(preview.picked_row.get("input_defaults") or {}), expanded=True)
        st.caption("Capabilities")
        st.json(visible_json(preview.picked_row.get("capabilities") or {}), expanded=True)

st.divider()
render_reorder(modality, task)
