"""The Health page's parts: the window, the findings as alerts, a table of every routed slot's models, and what each
figure means (latency basis and precision, stuck precision, the thresholds and where to change them).

The job figures are read on every run, never cached: they move without the catalogue changing, and the page is for
the question "is it failing right now". The service reads rollups, so a run stays cheap at 10M jobs; only what
routing picks is cached per data version and reader.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard.config import HEALTH_SETTINGS
from dashboard.export import to_csv_bytes
from dashboard.services.catalogue import Picks, slot_picks
from dashboard.services.errors import ServiceError
from dashboard.services.health import WINDOWS, HealthReport, HealthService
from dashboard.services.health_rules import BASELINE_DAYS, HealthFinding, HealthThresholds, ModelHealth
from dashboard.text import md_escape, visible_frame
from dashboard.ui import cached, paths
from dashboard.ui.context import context
from dashboard.ui.feedback import ICONS, show_error
from dashboard.ui.url import init_state, sync_url, url_param
from dashboard.ui.usage_view import TABLE_ROWS

DEFAULT_WINDOW = "1h"
WINDOW_BUTTONS = {"1h": "Last hour", "24h": "Last 24 hours"}
FINDINGS_SHOWN = 25  # alerts drawn on the page; the table (and its CSV) has every model
RATE_DECIMALS = 4


def render_window() -> str:
    """The window picker, initialised from and written to the URL (?window=24h)."""
    init_state("h_window", url_param("window", list(WINDOWS), DEFAULT_WINDOW))
    window = st.segmented_control("Window", list(WINDOWS), key="h_window", format_func=WINDOW_BUTTONS.get)
    window = window or DEFAULT_WINDOW  # a second click on the chosen button unselects it
    sync_url({"window": "" if window == DEFAULT_WINDOW else window})
    return window


def read_report(window: str, *, detail: int | None = TABLE_ROWS, picks: Picks | None = None) -> HealthReport | None:
    """The report as this person may read it, now; None (with the reason shown) when it cannot be read. The job
    figures are read at every run; what routing picks is given (the Overview takes it from the slots it draws) or
    comes from the catalogue's cached read of the picks. detail: the report's (every model that needs attention or
    is routed, and this many of the busiest others; None for every model)."""
    try:
        return _service().report(
            window, thresholds=_thresholds(), picks=cached.picks() if picks is None else picks, detail=detail
        )
    except ServiceError as exc:
        show_error(exc)
        return None


def _service() -> HealthService:
    ctx = context()
    return HealthService(ctx.engine, user_id=ctx.identity.user_id, read_db=ctx.usage.read_engine)


def _thresholds() -> HealthThresholds:
    return context().settings.health_thresholds


def describe_window(report: HealthReport) -> str:
    """What the figures count, in words: the window, its edges and the baseline's."""
    return (
        f"Jobs created since {report.start:%Y-%m-%d %H:%M} UTC ({WINDOWS[report.window]}, counted in whole UTC "
        f"hours), counted at this moment, against each model's own baseline: the {BASELINE_DAYS} whole UTC days "
        f"before the window's first day ({report.baseline_start:%Y-%m-%d} to "
        f"{report.baseline_end - timedelta(days=1):%Y-%m-%d}). Failure rates are failed jobs as a share of finished "
        "(completed or failed) ones."
    )


def show_finding(finding: HealthFinding) -> None:
    """One finding as an alert: an error when jobs are lost (a routed model failing, jobs stuck), else a warning."""
    error = finding.kind == "stuck" or (finding.kind == "failing" and finding.routed)
    show = st.error if error else st.warning
    show(md_escape(finding.message), icon=ICONS["error" if error else "warning"])


def render_findings(report: HealthReport) -> None:
    """Every finding worst first (the first FINDINGS_SHOWN drawn), or that nothing needs attention."""
    if not report.findings:
        st.success(
            f"Nothing needs attention: no routed slot's model is failing, slow, stuck or rated down in "
            f"{WINDOWS[report.window]}.",
            icon=ICONS["success"],
        )
        return
    for finding in report.findings[:FINDINGS_SHOWN]:
        show_finding(finding)
    if len(report.findings) > FINDINGS_SHOWN:
        more = len(report.findings) - FINDINGS_SHOWN
        st.caption(f"{more:,} more findings; the table below and its CSV list every model.")


COLUMNS = {  # the CSV's column (as the command line's JSON names it) -> the table's heading
    "modality": "Modality",
    "task": "Task",
    "model": "Model",
    "provider": "Provider",
    "model_id": "Model id",
    "routed": "Routed",
    "status": "Status",
    "jobs": "Jobs",
    "completed": "Completed",
    "failed": "Failed",
    "failure_rate": "Failure rate",
    "baseline_jobs": "Baseline jobs",
    "baseline_failure_rate": "Baseline failure rate",
    "p50_seconds": "p50 (s)",
    "p95_seconds": "p95 (s)",
    "baseline_p95_seconds": "Baseline p95 (s)",
    "stuck_jobs": "Stuck",
    "stuck_queued": "Stuck queued",
    "stuck_processing": "Stuck processing",
    "stuck_oldest_from": "Oldest stuck created from (UTC)",
    "rated": "Rated",
    "avg_rating": "Rating",
    "baseline_rated": "Baseline rated",
    "baseline_avg_rating": "Baseline rating",
    "next_model": "Next in line",
    "next_failure_rate": "Next in line's failure rate",
    "reasons": "Why",
}
_RATES = ("failure_rate", "baseline_failure_rate", "next_failure_rate", "avg_rating", "baseline_avg_rating")
_SHOWN = (
    "Slot",
    "Model",
    "Provider",
    "Routed",
    "Status",
    "Jobs",
    "Failure rate",
    "Baseline failure rate",
    "p50 (s)",
    "p95 (s)",
    "Baseline p95 (s)",
    "Stuck",
    "Oldest stuck created from (UTC)",
    "Rating",
    "Baseline rating",
    "Why",
)


def health_table(models: list[ModelHealth]) -> pd.DataFrame:
    """The models given, one row each, in their order, the columns named as the CSV names them."""
    rows = [
        {
            **{name: getattr(model, name) for name in COLUMNS if name not in ("status", "reasons")},
            "status": model.status,
            "reasons": "; ".join(model.reasons),
        }
        for model in models
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["stuck_oldest_from"] = pd.to_datetime(frame["stuck_oldest_from"], utc=True)
    return frame


def render_table(report: HealthReport) -> None:
    """The first TABLE_ROWS models in the report's order (what needs attention first, then by slot, the routed model
    first in its slot, then the busiest), saying how many more; every one in the CSV, read and built only when
    downloaded (a report in full, at that moment, with the same window and thresholds)."""
    st.subheader("Per slot and model")
    models = report.models
    if not models:
        st.info("No slot has a model that can take jobs, and no model has jobs in this window.")
        return
    listed = len(models) + report.left_out
    if listed > TABLE_ROWS:
        st.caption(
            f"{TABLE_ROWS} of {listed:,} models: those needing attention first, then each slot's pick and the "
            "busiest others, by slot. The CSV has every model."
        )
    shown = health_table(models[:TABLE_ROWS]).rename(columns=COLUMNS)
    # A model deleted from the catalogue since its jobs ran has no slot: a blank, not "/".
    shown.insert(0, "Slot", (shown["Modality"] + "/" + shown["Task"]).where(shown["Modality"] != ""))
    shown["Status"] = shown["Status"].map({"ok": "OK", "attention": "Needs attention"})
    percent = st.column_config.NumberColumn(format="percent")
    seconds = st.column_config.NumberColumn(format="%.1f")
    st.dataframe(
        visible_frame(shown[list(_SHOWN)]),
        hide_index=True,
        width="stretch",
        placeholder="—",  # no finished, completed or rated job: no figure, never "None"
        column_config={
            "Routed": st.column_config.CheckboxColumn("Routed", help="The model the slot's jobs go to now"),
            "Status": st.column_config.TextColumn(width=125),  # "Needs attention" whole, not cut to "Needs at"
            "Jobs": st.column_config.NumberColumn(format="localized"),
            "Stuck": st.column_config.NumberColumn(format="localized"),
            "Failure rate": percent,
            "Baseline failure rate": percent,
            "p50 (s)": seconds,
            "p95 (s)": seconds,
            "Baseline p95 (s)": seconds,
            "Oldest stuck created from (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "Rating": st.column_config.NumberColumn(format="%.2f"),
            "Baseline rating": st.column_config.NumberColumn(format="%.2f"),
            "Why": st.column_config.TextColumn(width="large"),
        },
    )
    service, limits, picks = _service(), _thresholds(), cached.picks()

    def every_model() -> bytes:
        full = report if not report.left_out else service.report(report.window, thresholds=limits, picks=picks)
        return to_csv_bytes(_for_file(health_table(full.models)))

    st.download_button(
        "Export CSV",
        every_model,
        file_name=f"health-{report.window}-{report.start:%Y%m%d-%H%M}.csv",
        mime="text/csv",
        icon=":material/download:",
        key="h_csv",
        on_click="ignore",
    )


def _for_file(table: pd.DataFrame) -> pd.DataFrame:
    """The table for a spreadsheet: rates rounded (0.0417, not 0.041666666666666664), times as ISO text."""
    out = table.copy()
    for column in _RATES:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float).round(RATE_DECIMALS)
    out["stuck_oldest_from"] = out["stuck_oldest_from"].map(lambda t: t.isoformat() if pd.notna(t) else None)
    return out


def latency_note(report: HealthReport) -> str:
    """How latency is measured here, and how exact p50/p95 are."""
    if report.latency_basis == "completed_at":
        basis = "Latency is completed_at minus created_at of completed jobs."
    elif report.latency_basis == "status_change":
        basis = (
            "The jobs table has no completed_at column, so latency is measured from created_at to the moment the "
            "job's status became completed, as the dashboard's usage trigger saw it; jobs written already completed "
            "have no latency and are left out of p50/p95."
        )
    else:
        return "Usage is not captured on this database, so there is no latency figure (p50/p95 show a dash)."
    return f"{basis} p50/p95 are exact {report.latency_precision.rstrip('.')}."


def stuck_note(stuck_minutes: int) -> str:
    """How exact the stuck count is: jobs are counted to the hour they were created in."""
    return (
        f"Stuck: queued or processing jobs, counted to the hour they were created in. A job counts once the hour "
        f"it was created in ended {stuck_minutes} minutes ago or more, so every job counted has waited over "
        f"{stuck_minutes} minutes, and one may wait up to {60 + stuck_minutes} minutes before it counts. The oldest "
        "is given as the hour it was created in (10:00-11:00 UTC)."
    )


# What each threshold means, for the table of thresholds (the rules themselves live in services/health_rules.py).
THRESHOLD_MEANINGS = {
    "min_jobs": "Finished jobs (completed or failed) a model needs in the window before a failure or latency finding",
    "failure_rate": "A failure rate at or above this is a finding when the model has no baseline",
    "failure_points": "...or when it is this far above the model's baseline rate",
    "failure_factor": "...and at least this many times the baseline rate",
    "stuck_minutes": "Queued or processing longer than this is stuck",
    "min_stuck": "This many stuck jobs on a model is a finding",
    "latency_factor": "A p95 at least this many times the model's baseline p95 is a finding",
    "min_rated": "Rated jobs needed in the window and in the baseline before a rating finding",
    "rating_drop": "An average rating this far below the model's baseline is a finding",
}


def threshold_rows(limits: HealthThresholds) -> pd.DataFrame:
    """Each threshold: its value, what it means, and the environment variable (or secret) that sets it."""
    rows = []
    for name, (_, low, high) in HEALTH_SETTINGS.items():
        value = getattr(limits, name)
        rows.append(
            {
                "Threshold": THRESHOLD_MEANINGS.get(name, name.replace("_", " ").capitalize()),
                "Value": _UNITS.get(name, "{:g}").format(value),
                "Set with": f"DASHBOARD_HEALTH_{name.upper()}",
                "Accepted": f"{_number(name).format(low)} to {_UNITS.get(name, '{:g}').format(high)}",
            }
        )
    return pd.DataFrame(rows)


def _number(name: str) -> str:
    """A threshold's format without its unit: "{:,}" of "{:,} jobs"."""
    return _UNITS.get(name, "{:g}").split("}")[0] + "}"


_UNITS = {
    "failure_rate": "{:.1%}",
    "failure_points": "{:.0%} points",
    "failure_factor": "{:g}x",
    "latency_factor": "{:g}x",
    "stuck_minutes": "{:,} min",
    "rating_drop": "{:g} stars",
    "min_jobs": "{:,}",
    "min_stuck": "{:,}",
    "min_rated": "{:,}",
}


def render_notes(report: HealthReport) -> None:
    """What the figures mean: latency basis and precision, stuck precision, and the thresholds behind findings."""
    st.caption(md_escape(latency_note(report)))
    st.caption(md_escape(stuck_note(report.thresholds.stuck_minutes)))
    with st.expander("Thresholds, and where to change them", icon=":material/tune:"):
        st.caption(
            "Findings come from these thresholds. Set each with its environment variable (read when the app "
            'starts), or as a top-level value of the app\'s secrets file (a rate as 0.3 or "30%"). '
            "A value outside the accepted range is ignored and the default kept. No finding is made on fewer jobs "
            "than the minimums."
        )
        # A table, not a grid: nine rows whose meanings are sentences, shown whole (a grid cut them off).
        st.table(threshold_rows(report.thresholds).set_index("Threshold"))


OVERVIEW_FINDINGS = 5


# The Overview's reports, read beside the page's other figures; a few at once (more would only share the same cores).
_OVERVIEW_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="overview-health")


def start_overview_report() -> Callable[[], HealthReport | None]:
    """Start reading the Overview's report (the last hour's findings only, no table) in a thread of its own, and
    return what waits for it: it shows why it could not be read (and returns None) as read_report does, and raises
    what else the read raised, in the page's run. The page reads its other figures meanwhile: on a server process
    just started, with 10,000 models and 10M jobs, the two reads took 576 and 440 ms one after the other, each mostly
    waiting for the database. Nothing Streamlit is called from the thread: the service and its arguments are made
    here, and the read runs as this person, as any other."""
    report = _OVERVIEW_READS.submit(
        _service().report, DEFAULT_WINDOW, thresholds=_thresholds(), picks=slot_picks(cached.slots()), detail=0
    )

    def result() -> HealthReport | None:
        try:
            return report.result()
        except ServiceError as exc:
            show_error(exc)
            return None

    return result


def render_overview_section(report: HealthReport | None) -> None:
    """The Overview's Health part: the worst findings of the last hour (at most OVERVIEW_FINDINGS), and a link.
    report: start_overview_report()'s (None: it could not be read, and said why)."""
    st.subheader("Health")
    if report is None:
        return
    if not report.findings:
        st.caption(f"Nothing needs attention in {WINDOWS[report.window]}: no routed model failing, slow or stuck.")
    for finding in report.findings[:OVERVIEW_FINDINGS]:
        show_finding(finding)
    more = len(report.findings) - OVERVIEW_FINDINGS
    label = f"See all {len(report.findings):,} findings on Health" if more > 0 else "Open Health"
    st.page_link(paths.HEALTH, label=label, icon=":material/monitor_heart:")
