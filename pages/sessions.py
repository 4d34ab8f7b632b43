"""Sessions (admins): who is signed in, from which device and address, since when; end one, or all of a person's."""

from uuid import UUID

import pandas as pd
import streamlit as st

from dashboard.services.errors import NotAllowed
from dashboard.services.sessions import SessionAdmin
from dashboard.text import visible
from dashboard.ui.context import context, require_admin
from dashboard.ui.feedback import describe_error, flash
from dashboard.ui.session import current_session_id

require_admin()
ctx = context()
service = SessionAdmin(ctx.engine, user_id=ctx.identity.user_id)
st.title("Sessions")
st.caption(
    f"Everyone signed in to this dashboard. A session ends after {ctx.settings.idle_minutes} minutes without "
    f"activity or {ctx.settings.session_hours} hours after sign-in, on sign-out, when its account gets a new "
    "password or is banned, or when you end it here. Times are UTC."
)
include_ended = st.toggle("Show ended sessions too", key="sessions_include_ended")
try:
    rows = service.list_sessions(include_ended=include_ended)
except NotAllowed as exc:
    st.error(describe_error(exc))
    st.stop()

mine = current_session_id()
table = pd.DataFrame(
    [
        {
            "Person": visible(row.email or str(row.user_id)),
            "Device": visible(row.user_agent or "unknown"),
            "Address": row.address or "unknown",
            "Signed in": row.created_at,
            "Last seen": row.last_seen_at,
            "Expires": row.expires_at,
            "Ended": row.ended_reason.replace("_", " ") if row.ended_reason else "",
            "This one": "yes" if row.id == mine else "",
        }
        for row in rows
    ],
    columns=["Person", "Device", "Address", "Signed in", "Last seen", "Expires", "Ended", "This one"],
)
st.dataframe(table, hide_index=True, width="stretch")

live = [row for row in rows if row.ended_at is None]
if not live:
    st.info("No live sessions.")
    st.stop()
labels = {
    row.id: visible(
        f"{row.email or row.user_id} · {row.address or 'unknown address'} · "
        f"{(row.user_agent or 'unknown device')[:60]} · last seen {row.last_seen_at:%Y-%m-%d %H:%M}"
    )
    for row in live
}
if st.session_state.get("sessions_pick") not in labels:  # ended meanwhile (here or elsewhere)
    st.session_state.pop("sessions_pick", None)
chosen: UUID = st.selectbox("Session", list(labels), key="sessions_pick", format_func=lambda i: labels[i])
owner = next(row for row in live if row.id == chosen)
left, right = st.columns(2)
if left.button("End this session", key="sessions_end_one", type="primary"):
    try:
        ended = service.end(chosen)
    except NotAllowed as exc:
        st.error(describe_error(exc))
        st.stop()
    flash("Session ended: its tabs are signed out on their next click." if ended else "That session had ended already.")
    st.rerun()
if right.button("End all of this person's sessions", key="sessions_end_all"):
    try:
        count = service.end_all_for(owner.user_id)
    except NotAllowed as exc:
        st.error(describe_error(exc))
        st.stop()
    flash(f"{count} session{'' if count == 1 else 's'} ended.")
    st.rerun()
