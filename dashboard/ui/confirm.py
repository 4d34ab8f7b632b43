"""Ask before doing something that cannot be undone, or that changes routing."""

from __future__ import annotations

import streamlit as st

from dashboard.text import md_escape


def confirm_or_cancel(key: str, *, prompt: str, confirm_label: str = "Confirm", primary: bool = True) -> bool | None:
    """prompt with Confirm and Cancel buttons: True on the run Confirm is pressed, False on the run Cancel is,
    None otherwise. The buttons' keys are f"{key}_yes" and f"{key}_no"."""
    st.warning(md_escape(prompt), icon=":material/help:")
    yes, no = st.columns(2)
    if yes.button(confirm_label, key=f"{key}_yes", type="primary" if primary else "secondary"):
        return True
    if no.button("Cancel", key=f"{key}_no"):
        return False
    return None


def confirmed(
    label: str, *, key: str, prompt: str, confirm_label: str = "Confirm", primary: bool = False, disabled: bool = False
) -> bool:
    """A button that, once pressed, shows prompt with Confirm and Cancel; True on the run Confirm is pressed."""
    pending = f"_confirm_{key}"
    if not st.session_state.get(pending):
        if st.button(label, key=key, type="primary" if primary else "secondary", disabled=disabled, width="stretch"):
            st.session_state[pending] = True
            st.rerun()
        return False
    answer = confirm_or_cancel(key, prompt=prompt, confirm_label=confirm_label)
    if answer is not None:
        st.session_state[pending] = False
    if answer is False:
        st.rerun()
    return bool(answer)
