"""Usage (admins): which models carry the load, which fail, what they cost; exact at every click."""

import streamlit as st

from dashboard.services.spend import BILLED_STATUS, estimate_spend, group_spend, totals_by_currency
from dashboard.services.usage import GROUP_COLUMN, GROUPINGS, failure_rate, group_usage
from dashboard.ui import cached, usage_charts, usage_report
from dashboard.ui.context import require_admin
from dashboard.ui.usage_view import (
    chart_table,
    days_table,
    file_slug,
    render_filters,
    render_not_costed,
    render_usage_table,
    show_chart,
)

require_admin()
st.title("Usage")
models = usage_report.catalogue()
view = render_filters(providers=cached.provider_choices(), tasks=cached.tasks(), models=models)
usage, days = usage_report.report(view.period, view.filters)
st.caption(
    f"Jobs created {view.period.describe()}, counted at this moment. Days are UTC days. Failure rates are "
    "failed jobs as a share of finished (completed or failed) ones."
)

if usage.empty:
    st.info("No model matches these filters. Pick All in a filter, or turn off Active only.")
    st.stop()
total, failed = int(usage["total_jobs"].sum()), int(usage["failed_jobs"].sum())
rated = int(usage["rated_jobs"].sum())
tiles = st.columns(4)
tiles[0].metric("Jobs", f"{total:,}", border=True)
tiles[1].metric("Completed", f"{int(usage['completed_jobs'].sum()):,}", border=True)
rate = failure_rate(failed, int(usage["completed_jobs"].sum()))
tiles[2].metric(
    "Failure rate",
    "—" if rate is None else f"{rate:.1%}",
    border=True,
    help="Failed jobs as a share of finished (completed or failed) jobs in the range",
)
tiles[3].metric(
    "Average rating",
    f"{usage['rating_sum'].sum() / rated:.2f}" if rated else "—",
    border=True,
    help=f"From {rated:,} rated jobs",
)
if not total:
    st.info(f"No jobs in this range ({view.label.lower()}). Try a longer range.")
    st.stop()

grouped = group_usage(usage, view.group_by)
label = GROUP_COLUMN[view.group_by]
noun = GROUPINGS[view.group_by].lower()
when = view.label
load, failures = st.columns(2, gap="large")
with load:
    show_chart(
        usage_charts.jobs_per_group(grouped, label, title=f"Jobs per {noun}"),
        chart_table(grouped, view.group_by, ["total_jobs", "completed_jobs", "failed_jobs", "other_jobs"]),
        name=file_slug("jobs per", noun, when),
        key="jobs",
    )
with failures:
    show_chart(
        usage_charts.failure_rates(grouped, label, title=f"Failure rate per {noun}"),
        chart_table(grouped, view.group_by, ["failed_jobs", "completed_jobs", "failure_rate"]),
        name=file_slug("failure rate per", noun, when),
        key="failures",
    )
show_chart(usage_charts.jobs_per_day(days), days_table(days), name=file_slug("jobs per day", when), key="days")

ratings, money = st.columns(2, gap="large")
with ratings:
    if rated:
        show_chart(
            usage_charts.quality(grouped, label, title=f"Average quality rating per {noun}"),
            chart_table(grouped, view.group_by, ["rated_jobs", "avg_quality_rating"]),
            name=file_slug("quality per", noun, when),
            key="quality",
        )
    else:
        st.caption("No job in this range has a quality rating.")
with money:
    costed, not_costed = estimate_spend(usage)
    totals = totals_by_currency(costed)
    st.markdown("**Estimated spend**")
    st.caption(
        f"{BILLED_STATUS.capitalize()} jobs × each model's price × the units one job uses. "
        + (" · ".join(f"{v:,.2f} {k}" for k, v in sorted(totals.items())) or "Nothing costed.")
    )
    if not costed.empty and costed["spend"].sum() > 0:
        spent = group_spend(costed, view.group_by)
        extra = ["basis"] if view.group_by == "model" else ["models"]
        show_chart(
            usage_charts.spend(spent, label, title=f"Estimated spend per {noun}"),
            chart_table(spent, view.group_by, ["currency", "spend", "completed_jobs", *extra]),
            name=file_slug("spend per", noun, when),
            key="spend",
        )

render_not_costed(not_costed, name=file_slug("not costed", when))
render_usage_table(grouped, view.group_by, name=file_slug("usage per", noun, when))
