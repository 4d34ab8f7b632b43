"""The one review of a routing change: what it does to each slot, worst first, then Confirm or Cancel.

Every action that changes routing (bulk changes, reordering a slot, making a default, deactivating a provider,
editing a model, importing, restoring from history) shows its impact through impact_review, so the same change
reads the same everywhere. Compute the impacts with dashboard.services.routing_rules.change_impact (or
slot_impact) over the touched slots' models as they are and as they would be; and the traffic it would move
(services/traffic.py, through services/traffic_reads.TrafficService) as one compact table under them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.services.routing_rules import SEVERITY_ORDER, Impact
from dashboard.services.traffic import Traffic
from dashboard.text import md_escape, visible_frame
from dashboard.ui.confirm import confirm_or_cancel
from dashboard.ui.feedback import ICONS

_SHOW = {"error": st.error, "warning": st.warning, "info": st.info}
UNCHANGED = "Routing stays as it is: every slot picks the same model, and every default stays usable."


def impact_review(
    key: str, impacts: list[Impact], *, action_label: str, prompt: str = "", traffic: Traffic | None = None
) -> bool | None:
    """Show impacts worst first (or that routing stays as it is), then prompt with action_label and Cancel.

    Returns True on the run the action button (labelled action_label) is pressed, False on the run Cancel is
    pressed, and None while the person has pressed neither. The caller keeps its own "review open" state: it
    applies the change on True, drops the review on False (then usually calls st.rerun()), and simply draws
    the review again on None. key must be unique on the page; the buttons' keys are f"{key}_yes" and
    f"{key}_no". prompt (optional) says what the change is ("Deactivate 3 models now?"); a sentence naming the
    slots whose jobs can no longer be routed, and the number of warnings, is added to it. traffic (optional):
    the jobs the change would move (render_traffic), shown under the impacts.
    """
    render_impacts(impacts, traffic=traffic)
    return confirm_or_cancel(key, prompt=full_prompt(prompt, impacts), confirm_label=action_label)


def render_impacts(impacts: list[Impact], *, traffic: Traffic | None = None) -> None:
    """Each impact as an alert of its severity, worst first; a success notice when there is none; then the
    traffic, when given."""
    for impact in sorted(impacts, key=lambda i: SEVERITY_ORDER[i.severity]):
        _SHOW[impact.severity](md_escape(impact.message), icon=ICONS[impact.severity])
    if not impacts:
        st.success(UNCHANGED, icon=ICONS["success"])
    if traffic is not None:
        render_traffic(traffic)


def render_traffic(traffic: Traffic) -> None:
    """The jobs per day that would move, from which model to which, and per slot the spend per day, failure rate
    and rating before and after: one compact table (or one line when nothing moves or there are no figures)."""
    if traffic.note:
        st.caption(md_escape(f"Traffic: {traffic.note}."))
        return
    if not traffic.moves:
        st.caption(md_escape(f"Traffic: no jobs would move, judging by {traffic.describe_window()}."))
        return
    rows = []
    for slot in traffic.moving:
        outcome = {
            "Spend/day": f"{slot.before.describe_spend()} → {slot.after.describe_spend()}",
            "Failure rate": f"{slot.before.describe_failure()} → {slot.after.describe_failure()}",
            "Rating": f"{slot.before.describe_rating()} → {slot.after.describe_rating()}",
        }
        for n, move in enumerate(slot.moves):
            cells = {"Slot": slot.slot, "Jobs/day": round(move.per_day, 1), "From": move.source, "To": move.target}
            rows.append({**cells, **(outcome if n == 0 else dict.fromkeys(outcome, ""))})
    st.caption(
        md_escape(
            f"Traffic that would move, from {traffic.describe_window()}. Jobs/day: the jobs that would go to "
            "another model. Spend/day, failure rate and rating: the whole slot's, now → after the change, from each "
            "model's price (completed jobs) and each receiving model's own failure rate and rating over those days."
        )
    )
    st.dataframe(visible_frame(pd.DataFrame(rows)), hide_index=True, width="stretch")


def full_prompt(prompt: str, impacts: list[Impact]) -> str:
    """prompt, then what the person is accepting: the slots left unroutable and the warnings shown."""
    text = prompt or "Apply this change?"
    blocked = [i.slot for i in impacts if i.severity == "error" and i.slot]
    if blocked:
        text += f" Jobs of {', '.join(blocked)} will have no model to go to."
    warnings = sum(i.severity == "warning" for i in impacts)
    if warnings:
        text += f" {warnings} warning{'s' if warnings != 1 else ''} above."
    return text
