"""Overview (admins): the catalogue at a glance, and the slots that need an admin's attention."""

import streamlit as st

from dashboard.services.catalogue import per_row_check_note
from dashboard.text import md_escape, visible
from dashboard.ui import cached, health_view, landing_warmup, paths, usage_report
from dashboard.ui.context import require_admin

require_admin()
st.title("Overview")
health = health_view.start_overview_report()  # read beside the catalogue and job figures; shown below
overview = cached.overview()
slots = {slot.label: slot for slot in cached.slots()}
counts = overview.counts
jobs_30d, rate = usage_report.recent_jobs()

models, providers, defaults, jobs, failures = st.columns(5)
# Totals go in the labels so that the big numbers stay short enough to read in five columns.
models.metric(f"Active models (of {counts['models']:,})", f"{counts['active_models']:,}", border=True)
providers.metric(f"Active providers (of {counts['providers']:,})", f"{counts['active_providers']:,}", border=True)
defaults.metric(
    f"Defaults (of {len(slots):,} slots)",
    f"{counts['defaults']:,}",
    border=True,
    help="Modality and task slots with an active default model",
)
jobs.metric(
    "Jobs (30 days)",
    f"{jobs_30d:,}",
    border=True,
    help="Jobs created today and in the 29 days before (UTC), whatever their status",
)
failures.metric(
    "Failure rate (30 days)",
    "—" if rate is None else f"{rate:.1%}",
    border=True,
    help="Failed jobs as a share of finished (completed or failed) jobs, same 30 days",
)

if counts["models"] == 0:
    st.info("There are no models yet. Add the first one with New model on the Models page.")
    st.page_link(paths.MODELS, label="Go to Models", icon=":material/table_rows:")
    st.stop()

st.subheader("Needs attention")
if overview.rule_breaks:
    # On a platform's own api_models the database does not enforce these (it could refuse the platform's
    # writes), so they are shown here instead.
    st.warning(
        "Models that break the catalogue's rules: "
        + "; ".join(overview.rule_breaks)
        + ". Routing may not treat them as you expect; fix them in the Model editor.",
        icon=":material/rule:",
    )
if overview.jobs_open_to_people:
    names = ", ".join(f'"{name}"' for name in overview.jobs_open_to_people)
    st.warning(
        md_escape(
            f"Signed-in users can write a job's status or rating themselves (jobs policies {names}), "
            "so usage and failure figures can be forged. Limit those policies to the columns a "
            "person may set, or let only the service role write them."
        ),
        icon=":material/shield:",
    )
if not overview.warnings and not overview.rule_breaks and not overview.jobs_open_to_people:
    st.success("Every slot has an active default and models to route to.")
# Each slot drawn below is seven elements (a row, three columns, an alert, two links) for the browser to draw: 25 of
# them took 200 ms of a new tab. The first few, errors first, are drawn so; the rest are one list, folded away.
SHOWN = health_view.OVERVIEW_FINDINGS
LISTED = 200  # lines in that list; the Defaults page has every slot
warnings = sorted(overview.warnings, key=lambda w: w.severity != "error")
for warning in warnings[:SHOWN]:
    message, models_link, defaults_link = st.columns([5, 1.3, 1.3], vertical_alignment="center")
    show = message.error if warning.severity == "error" else message.warning
    show(md_escape(warning.message), icon=":material/error:" if warning.severity == "error" else ":material/warning:")
    slot = slots.get(warning.slot)
    if slot is None:  # the slot changed between the two cached reads: the next run catches up
        continue
    models_link.page_link(
        paths.MODELS,
        label="Its models",
        icon=":material/table_rows:",
        query_params={"modality": slot.modality, "task": slot.task},
    )
    if slot.candidates:
        defaults_link.page_link(
            paths.DEFAULTS, label="Choose a default", icon=":material/star:", query_params={"slot": slot.label}
        )
if len(warnings) > SHOWN:
    rest = warnings[SHOWN:]
    with st.expander(f"{len(rest):,} more slots need attention", icon=":material/list:"):
        st.text("\n".join(f"• {visible(w.message)}" for w in rest[:LISTED]))  # plain text: no markdown at all
        if len(rest) > LISTED:
            st.caption(f"And {len(rest) - LISTED:,} more.")
    st.page_link(paths.DEFAULTS, label="Go to Defaults", icon=":material/star:")

# Read at every run, not cached: job counts move without the catalogue changing (ui/health_view.py).
health_view.render_overview_section(health())

# A platform's own policy (the seed's among them) may check the role once per row: say what that costs, folded away.
note = per_row_check_note(cached.policies(), models=counts["models"])
if note:
    with st.expander("Why the first click after a change takes longer", icon=":material/speed:"):
        st.caption(md_escape(note))

# Admins read this page before going on: meanwhile the server reads what their next pages read first.
landing_warmup.after_landing()
