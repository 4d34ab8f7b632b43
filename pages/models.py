"""Models: browse, filter, search and export the catalogue; open a model; change several at once (admins)."""

import math

import streamlit as st

from dashboard.services.catalogue import export_file_name
from dashboard.text import visible_frame
from dashboard.ui import bulk_view, cached, paths
from dashboard.ui.context import context
from dashboard.ui.model_filters import PAGE_SIZES, render_filters
from dashboard.ui.model_views import (
    TABLE_COLUMNS,
    csv_export,
    models_frame,
    picked_to_view,
    remember_rows,
    rows_to_json,
    show_model_panel,
    take_click,
)

ctx = context()
admin = ctx.identity.is_admin
# One click on a model's row opens it: for admins the editor, at once, before anything of this page is drawn (drawn
# first, the page went to the browser only to be replaced by the editor); others get the read-only view below.
if admin and (clicked := take_click("models_table")):
    st.switch_page(paths.EDITOR, query_params={"id": clicked})
head, action = st.columns([4, 1], vertical_alignment="bottom")
head.title("Models")
if admin and action.button("New model", icon=":material/add:", type="primary"):
    st.switch_page(paths.EDITOR, query_params={"new": "1"})
if not admin:
    st.info("You are viewing the active models. Only admins can change the catalogue.")

providers = cached.provider_choices()
filters = render_filters(admin=admin, tasks=cached.tasks(), providers=providers)
if st.session_state.get("_models_filters") != filters:
    st.session_state["_models_filters"] = filters
    st.session_state["models_page"] = 1

size_col, page_col, info_col, csv_col, json_col = st.columns([1, 1, 2, 1, 1], vertical_alignment="bottom")
page_size = size_col.selectbox("Rows per page", PAGE_SIZES, index=1, key="models_page_size")
total = cached.model_count(filters)
pages = max(1, math.ceil(total / page_size))
st.session_state["models_page"] = min(st.session_state.get("models_page", 1), pages)
page = page_col.number_input("Page", min_value=1, max_value=pages, step=1, key="models_page")
rows, total = cached.browse(filters, limit=page_size, offset=(page - 1) * page_size)
first = (page - 1) * page_size + 1
info_col.caption(f"{first:,}–{first + len(rows) - 1:,} of {total:,} models" if rows else "")

# Named after the filters (models-image-generation.csv); the provider by its name, as the file's rows have it.
provider = next((p["name"] for p in providers if str(p["id"]) == str(filters.provider_id)), None)
exports = {
    "CSV": (csv_col, csv_export, "csv", "text/csv"),
    "JSON": (json_col, rows_to_json, "json", "application/json"),
}
for kind, (column, render, extension, mime) in exports.items():
    column.download_button(
        f"Export {kind}",
        lambda render=render: render(ctx.catalogue.export_models(filters)),
        file_name=export_file_name(filters, extension, provider=provider),
        mime=mime,
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
    )

if not rows:
    st.info("No model matches these filters. Clear the filters, or the search, to see more.")
    st.stop()

# A plain user's click shows the model above the table, where the click was. Admins tick rows (the checkboxes) to
# change several at once.
clicked = None if admin else picked_to_view("models_table")
if clicked:
    show_model_panel(ctx.models.get_model(clicked))
frame = models_frame(rows)
ids = [str(i) for i in frame["id"]]
bulk_view.keep_selection("models_table", (filters, page_size, page), ids)
remember_rows(ids)
event = st.dataframe(
    visible_frame(frame),  # the same rows in the same order: selections index frame
    column_config=TABLE_COLUMNS,
    column_order=list(TABLE_COLUMNS),
    hide_index=True,
    on_select="rerun",
    selection_mode=["multi-row" if admin else "single-row", "single-cell"],
    key="models_table",
    width="stretch",
    height=35 * (len(rows) + 1) + 3,  # every row of the page in view: the page scrolls, not the table
    placeholder="—",  # a missing version or price, rather than "None"
)
selected = bulk_view.selected_rows(event, frame)
if admin and selected:
    bulk_view.render_bulk_bar(selected)
elif admin:
    st.caption(
        "Click a model to open it in the editor. Tick rows to activate, deactivate, reprioritise or move "
        "several models to another provider at once."
    )
else:
    st.caption("Click a model to see all of its fields.")
