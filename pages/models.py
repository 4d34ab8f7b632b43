"""Models: browse, filter, search and export the catalogue; open a model; change several at once (admins)."""

import math

import streamlit as st

from dashboard.text import visible_frame
from dashboard.ui import bulk_view, cached, paths
from dashboard.ui.context import context
from dashboard.ui.model_filters import PAGE_SIZES, render_filters
from dashboard.ui.model_views import TABLE_COLUMNS, csv_export, models_frame, render_model_details, rows_to_json

ctx = context()
admin = ctx.identity.is_admin
head, action = st.columns([4, 1], vertical_alignment="bottom")
head.title("Models")
if admin and action.button("New model", icon=":material/add:", type="primary"):
    st.switch_page(paths.EDITOR, query_params={"new": "1"})
if not admin:
    st.info("You are viewing the active models. Only admins can change the catalogue.")

filters = render_filters(admin=admin, tasks=cached.tasks(), providers=cached.providers())
if st.session_state.get("_models_filters") != filters:
    st.session_state["_models_filters"] = filters
    st.session_state["models_page"] = 1

size_col, page_col, info_col = st.columns([1, 1, 4], vertical_alignment="bottom")
page_size = size_col.selectbox("Rows per page", PAGE_SIZES, index=1, key="models_page_size")
_, total = cached.browse(filters, limit=1, offset=0)
pages = max(1, math.ceil(total / page_size))
st.session_state["models_page"] = min(st.session_state.get("models_page", 1), pages)
page = page_col.number_input("Page", min_value=1, max_value=pages, step=1, key="models_page")
rows, total = cached.browse(filters, limit=page_size, offset=(page - 1) * page_size)
first = (page - 1) * page_size + 1
info_col.caption(f"{first:,}–{first + len(rows) - 1:,} of {total:,} models" if rows else "")

if not rows:
    st.info("No model matches these filters. Clear the search or pick All in a filter to see more.")
    st.stop()

frame = models_frame(rows)
# Admins tick rows to open one or change several at once; a plain user's click opens the model read-only.
bulk_view.keep_selection("models_table", (filters, page_size, page), [str(i) for i in frame["id"]])
event = st.dataframe(
    visible_frame(frame),  # the same rows in the same order: selections index frame
    column_config=TABLE_COLUMNS,
    column_order=list(TABLE_COLUMNS),
    hide_index=True,
    on_select="rerun",
    selection_mode="multi-row" if admin else "single-row",
    key="models_table",
    width="stretch",
    height=35 * (min(len(rows), 25) + 1) + 3,  # up to 25 rows in view; the rest scroll inside the table
)
selected = bulk_view.selected_rows(event, frame)
if admin and selected:
    bulk_view.render_bulk_bar(selected)
elif admin:
    st.caption("Tick a row to open the model in the editor, or several to activate, deactivate, reprioritise or "
               "move them to another provider at once.")  # fmt: skip

exports = {"CSV": (csv_export, "models.csv", "text/csv"), "JSON": (rows_to_json, "models.json", "application/json")}
for column, (kind, (render, file_name, mime)) in zip(st.columns([1, 1, 3]), exports.items(), strict=False):
    column.download_button(f"Export {kind}", lambda render=render: render(ctx.catalogue.export_models(filters)),
                           file_name=file_name, mime=mime, icon=":material/download:", on_click="ignore")  # fmt: skip

if not admin and selected:
    render_model_details(ctx.models.get_model(str(selected[0]["id"])))
elif not admin:
    st.caption("Select a row to open the model.")
