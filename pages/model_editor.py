"""Model editor: every column of one model (new or existing), validated live, with a diff before saving."""

import streamlit as st

from dashboard.services import EditConflict, InvalidModel, ModelNotFound, ServiceError
from dashboard.services.diff import field_changes, reapply
from dashboard.services.validation import validate_model_fields
from dashboard.text import md_escape
from dashboard.ui import cached, model_form, paths
from dashboard.ui.context import context, require_admin
from dashboard.ui.editor_parts import pick_model, render_changes, source_for_new
from dashboard.ui.feedback import flash, show_error
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
    st.warning("This model was deleted by someone else after you opened it. Your edits are kept below: "
               "saving creates it again as a new model.")  # fmt: skip
    original, template = {}, {}
    st.session_state["_editor_orphaned"] = form_id

opened = model_form.load(form_id, template, original)
st.title(md_escape(original["display_name"]) if original else "New model")
st.page_link(paths.MODELS, label="All models", icon=":material/arrow_back:")

mine = model_form.read()
try:
    clean, problems = validate_model_fields(mine), {}
except InvalidModel as exc:
    clean, problems = None, exc.problems

form, side = st.columns([3, 1], gap="large")
with form:
    if not cached.providers():
        st.info("There is no provider yet: a model must belong to one. Add it on the Providers page first.",
                icon=":material/info:")  # fmt: skip
        st.page_link(paths.PROVIDERS, label="Go to Providers", icon=":material/cloud:")
    model_form.render(providers=cached.providers(), tasks=cached.tasks(), problems=problems)
    st.subheader("Changes")
    changes = field_changes(opened, clean) if clean is not None else []
    render_changes(changes, problems, slot_defaults=cached.slots(), fields=clean)
    # Another key once the model was deleted underneath: the click that revealed it does not create it.
    orphaned = st.session_state.get("_editor_orphaned") == form_id and not original
    save_label, save_key = ("Save as a new model", "save_new") if orphaned else ("Save", "save")
    # Never disabled: a field's last edit reaches the app when it loses focus, which is this very click, so a
    # Save disabled for "no changes" would swallow the first click. Problems and no-ops are said instead.
    clicked = st.button(save_label, type="primary", key=save_key)
    if clicked and (problems or not changes):
        st.info("Fix the problems above before saving." if problems else "Nothing to save: nothing differs.")
    elif clicked:
        changed = {c.path.split(".")[0] for c in changes}
        try:
            if original:
                saved = models.update_model(original["id"], {f: clean[f] for f in changed},
                                            expected_version=opened["row_version"])  # fmt: skip
            else:
                saved = models.create_model(clean)
        except EditConflict:
            st.session_state["_conflict"] = form_id
        except ServiceError as exc:
            show_error(exc)  # the form keeps everything typed
        else:
            cached.clear()
            model_form.forget()
            st.session_state.pop("_editor_orphaned", None)
            flash(f"Saved {saved['display_name']}.")
            st.switch_page(paths.EDITOR, query_params={"id": str(saved["id"])})
    if st.session_state.get("_conflict") == form_id:
        current = models.get_model(original["id"])
        st.error("Someone else saved this model after you opened it, so your changes were not saved. "
                 "What they changed:")  # fmt: skip
        render_changes(field_changes(opened, current), {}, slot_defaults=[], fields=current)
        if st.button("Reapply my edits on the latest version", type="primary", key="reapply"):
            st.session_state.pop("_conflict")
            model_form.load_next_run(form_id, {**current, **reapply(opened, current, mine)}, current)
            st.rerun()
if original:
    with side:
        render_actions(original)
    render_model_usage(original["id"], original["display_name"])
    render_model_history(original["id"], context().audit)
