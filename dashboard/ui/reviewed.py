"""A button that opens the one review of a routing change (dashboard.ui.impact_review) before acting."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard.services.routing_rules import Impact
from dashboard.services.traffic import Traffic
from dashboard.ui.impact_review import impact_review


def reviewed(
    label: str,
    *,
    key: str,
    impacts: Callable[[], list[Impact]],
    prompt: str,
    action_label: str = "Confirm",
    primary: bool = False,
    traffic: Callable[[], Traffic | None] | None = None,
) -> bool:
    """label's button; once pressed, what the change does to routing (impacts(), computed then, and again on
    each run while the review is open) and the traffic it would move (traffic(), likewise, when given), with
    action_label and Cancel. True on the run action_label is pressed."""
    pending = f"_review_{key}"
    if not st.session_state.get(pending):
        if st.button(label, key=key, type="primary" if primary else "secondary", width="stretch"):
            st.session_state[pending] = True
            st.rerun()
        return False
    try:
        moved = traffic() if traffic is not None else None
        answer = impact_review(key, impacts(), action_label=action_label, prompt=prompt, traffic=moved)
    except Exception:
        st.session_state[pending] = False  # a review that fails (the model is gone, say) closes; the caller says why
        raise
    if answer is not None:
        st.session_state[pending] = False
    if answer is False:
        st.rerun()
    return bool(answer)
