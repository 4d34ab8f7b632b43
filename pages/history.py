"""History (admins): every change to models and providers, whoever made it, field by field; restore a version."""

import math
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import streamlit as st

from dashboard.export import to_csv_bytes
from dashboard.services.audit import MAX_EXPORT, TABLES, AuditFilters
from dashboard.text import visible
from dashboard.ui import model_search
from dashboard.ui.context import context, require_admin
from dashboard.ui.history_view import changes_table, render_entries
from dashboard.ui.model_filters import ALL
from dashboard.ui.url import init_state, sync_url, url_param

PAGE_SIZE = 50
require_admin()
service = context().audit
st.title("History")
st.caption(
    "Every insert, update and delete of models and providers, from this dashboard, SQL, Supabase Studio "
    "or a worker, recorded by the database. Times are UTC."
)

people = {str(a["actor_id"]): a["email"] or str(a["actor_id"]) for a in service.actors()}
init_state("h_table", url_param("table", list(TABLES), ALL))
init_state("h_model", url_param("model", model_search.model_ids(), ALL))
init_state("h_person", url_param("person", list(people), ALL))
top = st.columns([1, 1.2, 2, 1.5, 1.5], vertical_alignment="bottom")
table = top[0].selectbox("Table", [ALL, *TABLES], key="h_table", format_func=lambda t: TABLES.get(t, t))
found = top[1].text_input("Find a model", key="h_model_q", max_chars=100, placeholder="Name or provider")
models = model_search.matches(found, keep=st.session_state.get("h_model"))
model = top[2].selectbox(
    "Model",
    [ALL, *models],
    key="h_model",
    format_func=lambda m: visible(models.get(m, m)),
    help=model_search.HELP,
)
person = top[3].selectbox("Person", [ALL, *people], key="h_person", format_func=lambda p: visible(people.get(p, p)))
today = datetime.now(UTC).date()
days = top[4].date_input("Days (UTC)", value=(today - timedelta(days=29), today), key="h_days", format="YYYY-MM-DD")
first, last = (days[0], days[-1]) if isinstance(days, tuple | list) and days else (None, None)
sync_url(
    {name: "" if value == ALL else value for name, value in (("table", table), ("model", model), ("person", person))}
)

filters = AuditFilters(
    table_name="api_models" if model != ALL else (None if table == ALL else table),
    row_id=None if model == ALL else UUID(model),
    actor_id=None if person == ALL else UUID(person),
    start=datetime.combine(first, time(), UTC) if first else None,
    end=datetime.combine(last, time(), UTC) + timedelta(days=1) if last else None,
)
_, total = service.history(filters, limit=1)
pages = max(1, math.ceil(total / PAGE_SIZE))
page = st.number_input("Page", min_value=1, max_value=pages, step=1, key="h_page") if pages > 1 else 1
entries, total = service.history(filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
st.caption(f"{total:,} changes" + (f", page {page} of {pages}" if pages > 1 else ""))
if not entries:
    st.info("No change matches these filters. Widen the days or pick All.")
    st.stop()
render_entries(entries, service, key="history")
st.download_button(
    "Export CSV",
    lambda: to_csv_bytes(changes_table(service.export_entries(filters))),
    file_name="history.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
    help=f"Every matching change (up to {MAX_EXPORT:,}), one line per field",
)
