"""Import and export (admins): the catalogue as JSON or CSV, and a dry run before any import is written."""

import streamlit as st

from dashboard.services import EditConflict, InvalidModel, NotAllowed
from dashboard.services.transfer import COLUMNS, FORMAT, ImportRefused, to_csv, to_json
from dashboard.services.validation import MODALITIES
from dashboard.text import md_escape, visible, visible_frame
from dashboard.ui import cached
from dashboard.ui.context import context, require_admin
from dashboard.ui.feedback import flash, show_error
from dashboard.ui.import_view import dry_run, forget_plan, plan_table, render_routing
from dashboard.ui.reviewed import reviewed

ALL = "All"
require_admin()
service = context().transfer
st.title("Import and export")
# Tracked tabs (key, on_change): the open tab is kept in session state, so applying an import, or the dry run of
# the next file, stays on Import instead of falling back to the first tab when the page is drawn again.
export_tab, import_tab = st.tabs(["Export", "Import"], key="transfer_tab", on_change="rerun")

with export_tab:
    st.caption(
        f"Every model with its provider's name, as `{FORMAT}`. JSON keeps the JSON fields exactly; CSV has them "
        "as JSON text and opens safely in a spreadsheet. Both can be imported back."
    )
    left, middle, right = st.columns([1, 1, 1], vertical_alignment="bottom")
    modality = left.selectbox("Modality", [ALL, *MODALITIES], key="x_modality")
    providers = {p["name"]: p["display_name"] for p in cached.provider_choices()}
    provider = middle.selectbox(
        "Provider", [ALL, *providers], key="x_provider", format_func=lambda v: visible(providers.get(v, v))
    )
    active_only = right.toggle("Active models only", key="x_active")
    filters = {
        "modality": None if modality == ALL else modality,
        "provider": None if provider == ALL else provider,
        "active_only": active_only,
    }
    json_button, csv_button, _ = st.columns([1, 1, 3])
    json_button.download_button(
        "Export JSON",
        lambda: to_json(service.export_rows(**filters)),
        file_name="models.json",
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
    )
    csv_button.download_button(
        "Export CSV",
        lambda: to_csv(service.export_rows(**filters)),
        file_name="models.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )

with import_tab:
    st.caption(
        "Rows are matched on provider name, model_key and version: a match is updated, anything else is "
        "added. Nothing is written until you apply the dry run; then all is written or nothing."
    )
    with st.expander("Columns"):
        st.markdown(
            "`provider` and `model_key` are required in every row; `display_name`, `modality` and `task` "
            "for a new model. Leave out a column to keep what a model has. The columns: "
            + ", ".join(f"`{c}`" for c in COLUMNS)
            + "."
        )
    upload_key = f"import_file_{st.session_state.get('_import_round', 0)}"
    uploaded = st.file_uploader("A JSON or CSV file", type=["json", "csv"], key=upload_key)
    pasted = st.text_area(
        "Or paste the file's contents",
        key=f"import_text_{upload_key}",
        height=120,
        placeholder='{"models": [{"provider": "replicate", "model_key": "...", ...}]}',
    )
    if uploaded is not None:
        data, name = uploaded.getvalue(), uploaded.name
    elif pasted.strip():
        data, name = pasted.encode("utf-8"), "pasted"
    else:
        forget_plan()
        st.stop()

    plan, refused = dry_run(service, data, name)
    if refused:
        st.error(md_escape(f"This file cannot be imported: {refused}."), icon=":material/error:")
        st.stop()
    counts = st.columns(4)
    for column, (status, label) in zip(
        counts,
        (("new", "New"), ("changed", "Changed"), ("unchanged", "Unchanged"), ("error", "With problems")),
        strict=True,
    ):
        column.metric(label, f"{plan.count(status):,}", border=True)
    table = plan_table(plan)
    if not table.empty:
        st.dataframe(visible_frame(table), hide_index=True, width="stretch")
    if not plan.ok:
        st.error(
            "Fix the problems listed above in the file, then load it again. Nothing was written.",
            icon=":material/error:",
        )
        st.stop()
    if not plan.writes:
        st.success("Nothing to import: every model in the file is already as it says.", icon=":material/check:")
        st.stop()
    prompt = (
        f"Write {plan.count('new'):,} new and {plan.count('changed'):,} changed models to the catalogue? "
        "This changes what jobs are routed to."
    )
    label = f"Apply {len(plan.writes):,} change" + ("s" if len(plan.writes) != 1 else "")
    render_routing(plan)
    if reviewed(
        label,
        key="import_apply",
        prompt=prompt,
        primary=True,
        action_label="Apply",
        impacts=lambda: plan.impacts,
        traffic=lambda: plan.traffic,
    ):
        bar = st.progress(0.0, text="Writing…")
        try:
            service.apply(
                data,
                name,
                expected=plan.fingerprint(),
                progress=lambda done, total: bar.progress(done / total, text=f"Wrote {done:,} of {total:,}"),
            )
        except (EditConflict, InvalidModel, NotAllowed, ImportRefused) as exc:
            forget_plan()
            show_error(exc) if not isinstance(exc, ImportRefused) else st.error(md_escape(str(exc)))
            st.stop()
        cached.clear()
        forget_plan()
        st.session_state["_import_round"] = st.session_state.get("_import_round", 0) + 1
        flash(f"Imported: {plan.count('new'):,} new and {plan.count('changed'):,} changed models.")
        st.rerun()
