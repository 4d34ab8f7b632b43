"""The model editor's Save on screen: asking about fields the person did not edit, and showing what a save did.

What a save does, and whether it may, is dashboard.services.editing (preview_save, save_draft); this only keeps
the page's state between runs and says the result.
"""

from __future__ import annotations

import streamlit as st

from dashboard.services.editing import SavePreview, SaveResult
from dashboard.text import md_escape
from dashboard.ui import cached, model_form, paths
from dashboard.ui.feedback import flash, show_error

_CONFIRM = "_editor_confirm"  # (form id, the unedited fields the person was asked about)
_CONFLICT = "_conflict"
_ORPHANED = "_editor_orphaned"


def ask_about_unedited(form_id: str, preview: SavePreview) -> bool:
    """Once a Save was refused for changing fields the person did not edit, ask them: True when they confirm."""
    unedited = preview.unedited
    if st.session_state.get(_CONFIRM) != (form_id, tuple(unedited)):
        st.session_state.pop(_CONFIRM, None)  # asked about other fields, or none: ask again on the next Save
        return False
    if not unedited:
        return False
    st.warning(md_escape(SaveResult("confirm", preview.review, unedited=unedited).message), icon=":material/help:")
    return st.button("Save, including the fields I did not edit", key="save_confirmed")


def forget_save_state() -> None:
    """Drop the pending question and conflict (after Discard, or a save)."""
    for key in (_CONFIRM, _CONFLICT):
        st.session_state.pop(key, None)


def after_save(result: SaveResult, form_id: str) -> None:
    """Say what save_draft did: open the saved model, ask to confirm, flag a conflict, or show why not."""
    if result.status == "saved":
        cached.clear()
        model_form.forget(form_id)
        st.session_state.pop(_ORPHANED, None)
        forget_save_state()
        flash(result.message)
        st.switch_page(paths.EDITOR, query_params={"id": str(result.saved["id"])})
    elif result.status == "confirm":
        st.session_state[_CONFIRM] = (form_id, tuple(result.unedited))
        st.rerun()  # draw the question under the Save button
    elif result.status == "conflict":
        st.session_state[_CONFLICT] = form_id
    elif result.status == "failed":
        show_error(result.error)  # the form keeps everything typed
    elif result.status == "incomplete":
        st.error(result.message, icon=":material/error:")
    else:
        st.info(result.message)
