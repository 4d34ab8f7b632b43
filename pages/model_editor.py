"""Model editor: every column of one model (new or existing), validated live, with a diff before saving.

The form's values are a draft loaded whole before any widget is drawn (dashboard.ui.model_form); saving is
dashboard.services.editing.save_draft, which builds what it writes from the draft alone.
"""

import streamlit as st

from dashboard.services import InvalidModel, ModelNotFound
from dashboard.services.diff import field_changes
from dashboard.services.editing import preview_save, save_draft
from dashboard.text import md_escape
from dashboard.ui import cached, model_form, paths
from dashboard.ui.confirm import confirmed as asked_first
from dashboard.ui.context import context, require_admin
from dashboard.ui.editor_parts import (
    pick_model,
    record_line,
    render_changes,
    render_switcher,
    save_traffic,
    source_for_new,
)
from dashboard.ui.editor_save import after_save, ask_about_unedited, forget_save_state
from dashboard.ui.feedback import show_error
from dashboard.ui.history_view import render_model_history
from dashboard.ui.model_actions import render_actions
from dashboard.ui.usage_view import render_model_usage

require_admin()
models = context().models
model_id, is_new = st.query_params.get("id"), st.query_params.get("new") == "1"
if not model_id and not is_new:
    pick_model()
    st.stop()

form_id = f"{model_id}" if model_id else f"new:{st.query_params.get('from', '')}"
try:
    original = models.get_model(model_id) if model_id else {}
    template = original or source_for_new(models, st.query_params.get("from"))
except (ModelNotFound, InvalidModel) as exc:
    if not model_form.is_loaded(form_id):
        show_error(exc)
        st.page_link(paths.MODELS, label="Back to the models", icon=":material/arrow_back:")
        st.stop()
    # Deleted while this person was editing it: keep every edit and let them save it as a new model.
    st.warning(
        "This model was deleted by someone else after you opened it. Your edits are kept below: "
        "saving creates it again as a new model."
    )
    original, template = {}, {}
    st.session_state["_editor_orphaned"] = form_id

form = model_form.load(form_id, template, original)  # the whole draft, before the first widget is drawn
head, switch = st.columns([3, 2], vertical_alignment="bottom")
head.title(md_escape(original["display_name"]) if original else "New model")
with switch:
    render_switcher(str(original["id"]) if original else None)  # this draft waits while another model is open
st.page_link(paths.MODELS, label="All models", icon=":material/arrow_back:")
if original:
    st.caption(md_escape(record_line(original, context().identity.user_id)))

opened = form.opened if original else {}  # what a save compares with; nothing once deleted (it creates)
preview = preview_save(models, form.draft, opened, form.edited, base=form.base)
checked, unedited = preview.review, preview.unedited

form_column, side = st.columns([3, 1], gap="large")
with form_column:
    if not cached.provider_choices():
        st.info(
            "There is no provider yet: a model must belong to one. Add it on the Providers page first.",
            icon=":material/info:",
        )
        st.page_link(paths.PROVIDERS, label="Go to Providers", icon=":material/cloud:")
    model_form.render(
        form, providers=cached.provider_choices(), tasks=cached.tasks(), problems=checked.problems, kept=checked.kept
    )
    st.subheader("Changes")
    render_changes(
        checked.changes,
        checked.problems,
        impacts=preview.impacts,
        unedited=unedited,
        kept=checked.kept,
        traffic=save_traffic(models, opened, preview),
    )
    # Another key once the model was deleted underneath: the click that revealed it does not create it.
    orphaned = st.session_state.get("_editor_orphaned") == form_id and not original
    save_label, save_key = ("Save as a new model", "save_new") if orphaned else ("Save", "save")
    # Never disabled: a field's last edit reaches the app when it loses focus, which is this very click, so a
    # Save disabled for "no changes" would swallow the first click. Problems and no-ops are said instead.
    clicked = st.button(save_label, type="primary", key=save_key)
    confirmed = ask_about_unedited(form_id, preview)
    if form.has_edits and asked_first(
        "Discard changes",
        key="discard",
        confirm_label="Discard changes",
        prompt="Discard your changes? The form goes back to the model as saved, and what you typed is lost.",
    ):
        model_form.discard(form_id)
        forget_save_state()
        st.rerun()
    if clicked or confirmed:
        after_save(save_draft(models, form.draft, opened, form.edited, confirmed, base=form.base), form_id)
    if st.session_state.get("_conflict") == form_id and original:
        st.error(
            "Someone else saved this model after you opened it, so your changes were not saved. What they changed:"
        )
        render_changes(field_changes(form.opened, original), {})
        if st.button("Reapply my edits on the latest version", type="primary", key="reapply"):
            st.session_state.pop("_conflict")
            model_form.reapply_on(form_id, original)
            st.rerun()
if original:
    with side:
        render_actions(original)
    render_model_usage(original["id"], original["display_name"])
    render_model_history(original["id"], context().audit)
