"""Health (admins): is every routed slot's model working right now, against its own last 7 days."""

import streamlit as st

from dashboard.ui import health_view
from dashboard.ui.context import require_admin

require_admin()
st.title("Health")
window = health_view.render_window()
report = health_view.read_report(window)
if report is None:  # the reason, and what to do, are shown
    st.stop()
st.caption(health_view.describe_window(report))
health_view.render_findings(report)
health_view.render_table(report)
health_view.render_notes(report)
