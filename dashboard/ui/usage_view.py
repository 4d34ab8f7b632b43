"""The Usage page's parts: filters kept in the URL, charts with their tables, and a model's own usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.export import to_csv_bytes
from dashboard.services.usage import (
    GROUP_COLUMN,
    GROUPINGS,
    PRESETS,
    InvalidRange,
    UsageFilters,
    UsageRange,
    round_rates,
)
from dashboard.services.validation import MODALITIES
from dashboard.text import visible, visible_frame
from dashboard.ui import model_search, paths, usage_charts
from dashboard.ui.context import context
from dashboard.ui.model_filters import ALL, task_select
from dashboard.ui.url import init_state, note_ignored, sync_url, url_param
from dashboard.ui.usage_report import DEFAULT_RANGE, find_models

CUSTOM = "custom"
RANGE_CHOICES = {**PRESETS, CUSTOM: "Custom"}
# The range buttons' own labels, short enough for all six to fit a phone's width (390 px); the page's heading
# names the range in full ("Last 7 days").
RANGE_BUTTONS = {"24h": "24h", "7d": "7d", "30d": "30d", "90d": "90d", "all": "All", CUSTOM: "Custom"}


@dataclass(frozen=True)
class UsageView:
    """What the Usage page shows: a range, which models, and how to group them."""

    period: UsageRange
    filters: UsageFilters
    group_by: str
    label: str  # the range in words, for titles and file names


# The days a custom range may start and end on: what the date picker accepts (a link's 0001-01-01 or 9999-12-31
# is left out with a note rather than crashing the picker).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 1, 1)


def _date_param(name: str) -> date | None:
    text = url_param(name)
    if not text:
        return None
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        note_ignored(name, text)
        return None
    return day


def render_filters(*, providers: list[dict], tasks: list[tuple[str, str]], models: pd.DataFrame) -> UsageView:
    """Range, provider, modality, task, model, active-only and grouping; initialised from and written to the URL.

    models: usage_report.catalogue(); the model filter searches it and offers the first matches, never all."""
    provider_names = {str(p["id"]): p["display_name"] for p in providers}
    init_state("u_range", url_param("range", list(RANGE_CHOICES), DEFAULT_RANGE))
    init_state("u_provider", url_param("provider", list(provider_names), ALL))
    init_state("u_modality", url_param("modality", list(MODALITIES), ALL))
    init_state("u_model", _model_param(models))
    init_state("u_active", url_param("active", ["0", "1"], "1") == "1")
    init_state("u_group", url_param("group", list(GROUPINGS), "model"))
    today = datetime.now(UTC).date()
    first, last = _date_param("from") or today - timedelta(days=29), _date_param("to") or today
    init_state("u_days", (min(first, last), max(first, last)))

    top = st.columns([5, 1.6, 1.2], vertical_alignment="bottom")
    choice = top[0].segmented_control("Range", list(RANGE_CHOICES), key="u_range", format_func=RANGE_BUTTONS.get)
    choice = choice or DEFAULT_RANGE
    group_by = top[1].selectbox("Group by", list(GROUPINGS), key="u_group", format_func=GROUPINGS.get)
    active_only = top[2].toggle("Active only", key="u_active", help="As the seed's usage query: active models only")

    row = st.columns([1.6, 1.2, 1.6, 1.6, 2.4], vertical_alignment="bottom")
    provider = row[0].selectbox(
        "Provider", [ALL, *provider_names], key="u_provider", format_func=lambda v: visible(provider_names.get(v, v))
    )
    modality = row[1].selectbox("Modality", [ALL, *MODALITIES], key="u_modality")
    task = task_select(row[2], modality, tasks, key="u_task")
    model = _model_select(row[3], row[4], models)
    period, label = _period(choice, top[0])

    filters = UsageFilters(
        provider_id=None if provider == ALL else UUID(provider),
        modality=None if modality == ALL else modality,
        task=None if task == ALL else task,
        model_id=None if model == ALL else UUID(model),
        active_only=active_only,
    )
    _write_to_url(choice, period, filters, group_by)
    return UsageView(period=period, filters=filters, group_by=group_by, label=label)


def _model_param(models: pd.DataFrame) -> str:
    """The link's model, if it is one this person can see (checked against the catalogue, not a list of options)."""
    value = url_param("model")
    if value and not (models["model_id"] == value).any():
        note_ignored("model", value)
        return ALL
    return value or ALL


def _model_select(find_column, pick_column, models: pd.DataFrame) -> str:
    """A search box and the first model_search.MATCHES models it matches (with the one chosen kept): a short list to
    send, however many models there are."""
    text = find_column.text_input("Find a model", key="u_model_q", max_chars=100, placeholder="Name or provider")
    chosen = st.session_state.get("u_model", ALL)
    found = find_models(models, text)
    options = [ALL, *([chosen] if chosen != ALL else []), *(i for i in found["model_id"] if i != chosen)]
    labels = dict(zip(found["model_id"], found["label"], strict=True))
    if chosen != ALL and chosen not in labels:
        labels.update(models.loc[models["model_id"] == chosen, ["model_id", "label"]].itertuples(index=False))
    return pick_column.selectbox(
        "Model",
        options,
        key="u_model",
        format_func=lambda v: visible(labels.get(v, v)),
        help=model_search.HELP,
    )


def _period(choice: str, column) -> tuple[UsageRange, str]:
    if choice != CUSTOM:
        return UsageRange.preset(choice), RANGE_CHOICES[choice]
    picked = column.date_input("Days (UTC)", key="u_days", min_value=FIRST_DAY, max_value=LAST_DAY, format="YYYY-MM-DD")
    first, last = (picked[0], picked[-1]) if isinstance(picked, tuple | list) and picked else (None, None)
    if first is None:
        st.info("Pick the first and the last day of the range.")
        st.stop()
    try:
        return UsageRange.between_days(first, last), f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
    except InvalidRange as exc:
        st.error(f"{exc}. Pick the first day, then the last.", icon=":material/error:")
        st.stop()


def _write_to_url(choice: str, period: UsageRange, filters: UsageFilters, group_by: str) -> None:
    custom = choice == CUSTOM and period.start and period.end
    wanted = {
        "range": "" if choice == DEFAULT_RANGE else choice,
        "from": f"{period.start:%Y-%m-%d}" if custom else "",
        "to": f"{period.end - timedelta(days=1):%Y-%m-%d}" if custom else "",
        "provider": str(filters.provider_id or ""),
        "modality": filters.modality or "",
        "task": filters.task or "",
        "model": str(filters.model_id or ""),
        "active": "" if filters.active_only else "0",
        "group": "" if group_by == "model" else group_by,
    }
    sync_url(wanted)


def file_slug(*parts: str) -> str:
    """A file name from words: "jobs per model", "Last 30 days" -> "jobs-per-model-last-30-days"."""
    return "-".join(" ".join(parts).lower().split())


def show_chart(figure: go.Figure, table: pd.DataFrame, *, name: str, key: str) -> None:
    """A chart (PNG from its toolbar's camera) with the CSV of the table behind it, both named name: say what
    the chart shows, per what, over which range ("jobs-per-provider-last-7-days"). Rates are rounded in the CSV."""
    st.plotly_chart(figure, key=f"chart_{key}", config=usage_charts.png_config(name))
    csv_download(f"CSV: {name}", table, name=name, key=f"csv_{key}")


def csv_download(label: str, table: pd.DataFrame, *, name: str, key: str) -> None:
    """A download button for the table as CSV (rates rounded), built only when someone clicks it."""
    st.download_button(
        label,
        lambda: to_csv_bytes(round_rates(table)),
        file_name=f"{name}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=key,
        on_click="ignore",
    )


TABLE_ROWS = 100  # rows a table shows; its CSV has them all


def _first_rows(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """The first TABLE_ROWS rows, saying how many more the CSV holds."""
    if len(frame) > TABLE_ROWS:
        st.caption(f"The first {TABLE_ROWS} of {len(frame):,} {what}; the CSV has every one.")
    return frame.head(TABLE_ROWS)


def render_not_costed(not_costed: pd.DataFrame, *, name: str) -> None:
    """The models left out of the spend estimate, with why and the completed jobs left out."""
    if not_costed.empty:
        return
    st.markdown(
        f"**Not costed**: {len(not_costed):,} models, {int(not_costed['completed_jobs'].sum()):,} completed jobs "
        "left out of the estimate"
    )
    columns = {
        "display_name": "Model",
        "provider_name": "Provider",
        "reason": st.column_config.TextColumn("Why"),
        "completed_jobs": st.column_config.NumberColumn("Completed jobs", format="localized"),
    }
    ordered = not_costed.sort_values("completed_jobs", ascending=False, kind="stable")[list(columns)]
    st.dataframe(
        visible_frame(_first_rows(ordered, "models not costed")),
        hide_index=True,
        column_config=columns,
        width="stretch",
        placeholder="—",
    )
    csv_download(f"CSV: {name}", ordered, name=name, key="csv_not_costed")


def render_usage_table(grouped: pd.DataFrame, group_by: str, *, name: str) -> None:
    """The whole usage table per group, busiest first: the first TABLE_ROWS rows shown, every row in its CSV."""
    st.subheader("The table")
    table = grouped.rename(columns={GROUP_COLUMN[group_by]: GROUPINGS[group_by]})
    noun = {"model": "models", "provider": "providers", "modality": "modalities", "task": "tasks"}[group_by]
    # placeholder: a group with no finished or rated job has no rate; say so with a dash, never "None".
    st.dataframe(
        visible_frame(_first_rows(table, noun)),
        hide_index=True,
        width="stretch",
        placeholder="—",
        column_config={
            "provider_name": "Provider",
            "failure_rate": st.column_config.NumberColumn("Failure rate", format="percent"),
            "avg_quality_rating": st.column_config.NumberColumn("Average rating", format="%.2f"),
            **{
                c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="localized")
                for c in ("total_jobs", "completed_jobs", "failed_jobs", "other_jobs", "rated_jobs", "rating_sum")
            },
        },
    )
    csv_download("Export CSV", table, name=name, key="csv_table")


def chart_table(frame: pd.DataFrame, group_by: str, columns: list[str]) -> pd.DataFrame:
    """The columns behind one chart, the group's own column named as the grouping (Model, Provider, ...) and,
    per model, its provider beside it (two models may share a name)."""
    label = GROUP_COLUMN[group_by]
    keep = [label, *(["provider_name"] if group_by == "model" and "provider_name" in frame else []), *columns]
    return frame[keep].rename(columns={label: GROUPINGS[group_by], "provider_name": "Provider"})


def days_table(days: pd.DataFrame) -> pd.DataFrame:
    """Jobs per day with one column per status (the table behind the per-day chart)."""
    if days.empty:
        return pd.DataFrame(columns=["day"])
    wide = days.pivot_table(index="day", columns="status", values="jobs", aggfunc="sum", fill_value=0)
    ordered = [s for s in usage_charts.STATUS_ORDER if s in wide.columns]
    wide = wide[ordered + sorted(set(wide.columns) - set(ordered))]
    wide["total"] = wide.sum(axis=1)
    wide.index = wide.index.strftime("%Y-%m-%d")
    return wide.reset_index()


CHART_OPEN = "model_usage_chart_{}"  # the session state key of a model's chart expander: open or not


def render_model_usage(model_id: UUID | str, display_name: str) -> None:
    """A model's own usage over time: jobs per day by status, its failure rate, and the totals."""
    choices = {k: PRESETS[k] for k in ("7d", "30d", "90d", "all")}
    head, pick = st.columns([1, 2], vertical_alignment="bottom")
    head.subheader("Usage")
    choice = (
        pick.segmented_control(
            "Usage range",
            list(choices),
            default="30d",
            format_func=choices.get,
            key=f"model_usage_range_{model_id}",
            label_visibility="collapsed",
        )
        or "30d"
    )
    period = UsageRange.preset(choice)
    service = context().usage
    filters = UsageFilters(model_id=UUID(str(model_id)), active_only=False)
    totals, days = service.report(period, filters)
    if totals.empty or not totals.loc[0, "total_jobs"]:
        st.caption(f"No jobs in this range ({choices[choice].lower()}).")
    else:
        row = totals.iloc[0]
        tiles = st.columns(4)
        tiles[0].metric("Jobs", f"{row.total_jobs:,}", border=True)
        tiles[1].metric("Completed", f"{row.completed_jobs:,}", border=True)
        tiles[2].metric("Failure rate", "—" if pd.isna(row.failure_rate) else f"{row.failure_rate:.1%}", border=True)
        rating = "—" if pd.isna(row.avg_quality_rating) else f"{row.avg_quality_rating:.2f}"
        tiles[3].metric("Average rating", rating, border=True, help=f"From {row.rated_jobs:,} rated jobs")
        # Drawn when opened: the first chart a browser tab draws loads and starts the charting library, about 0.8 s
        # of the browser's time (bench/README.md), which opening a model to edit it should not pay.
        chart = st.expander("Jobs per day: chart and CSV", key=CHART_OPEN.format(model_id), on_change="rerun")
        if chart.open:
            with chart:
                figure = usage_charts.model_over_time(days, title=f"{display_name}: jobs per day (UTC)")
                name = file_slug("jobs per day of model", str(model_id)[:8], choices[choice])
                show_chart(figure, days_table(days), name=name, key=f"model_{model_id}")
    st.page_link(
        paths.USAGE,
        label="Compare with other models on Usage",
        icon=":material/monitoring:",
        query_params={"model": str(model_id), "range": choice, "active": "0"},
    )
