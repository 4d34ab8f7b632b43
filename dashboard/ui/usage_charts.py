"""Plotly figures for the Usage pages: plain functions from DataFrames to figures, tested without a browser.

Each status keeps one colour in every chart. Every text that comes from the database (model,
provider and task names) goes through plot_text(): Plotly renders a subset of HTML in labels,
hover text and legends, so a name like "<b>x</b>" or "<a href=...>" must arrive as text.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from dashboard.services.usage import failure_rate
from dashboard.text import visible

# Colour-blind-safe (Okabe-Ito), one per status, the same in every chart.
STATUS_COLOURS = {
    "completed": "#009E73",
    "failed": "#D55E00",
    "cancelled": "#999999",
    "processing": "#0072B2",
    "queued": "#E69F00",
    "other": "#999999",
}
STATUS_ORDER = ("completed", "failed", "cancelled", "processing", "queued")
MAX_BARS = 25
_FONT = "sans-serif"


def png_config(file_name: str) -> dict:
    """Plotly's toolbar: its camera button downloads the chart as a PNG under this file name."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2, "filename": file_name}}


def plot_text(value: object) -> str:
    """Database text made safe and literal for Plotly labels, hover text and legends."""
    return html.escape("" if value is None or (isinstance(value, float) and pd.isna(value)) else visible(value))


# Margins are set here, never measured by Plotly (automargin, which Streamlit's theme turns on for every axis):
# automargin draws a chart, measures its labels and draws it again, about 160 ms of every Usage click in the
# browser for the page's charts. A name axis gets the room its longest label needs (_name_axis).
LABEL_CHARS = 40  # a longer name is cut on the axis ("…"); its hover text has it whole
_CHAR_PX = 7.5  # a 12 px sans-serif character at its widest on average (DejaVu Sans ~7, Arial ~6.7), rounded up
_MARGIN = {"l": 64, "r": 16, "t": 56, "b": 56}  # room for numeric ticks, an axis title, the title and a legend
# Built as one dict and one list of traces: go.Figure(data=..., layout=...) costs about a millisecond, where
# add_bar() and update_layout() on a figure cost 10-15 ms each (Plotly validates every step), times five charts
# on every click of the Usage page.
_BASE_LAYOUT = {
    "margin": _MARGIN,
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1, "traceorder": "normal"},
    "hoverlabel": {"namelength": -1},
    "font": {"family": _FONT},
}


def _figure(traces: list, *, title: str, height: int, **layout) -> go.Figure:
    title_layout = {"text": plot_text(title), "x": 0, "xanchor": "left"}
    axes = {"xaxis": {"automargin": False}, "yaxis": {"automargin": False}}
    for name, axis in axes.items():
        axis.update(layout.pop(name, {}))
    return go.Figure(data=traces, layout={**_BASE_LAYOUT, "title": title_layout, "height": height, **axes, **layout})


def _axis(title: str, **extra) -> dict:
    return {"title": {"text": title}, **extra}


def _name_axis(traces: list, **extra) -> tuple[dict, dict]:
    """(yaxis, margin) for a horizontal bar chart of these traces, whose bars are names as _labels gives them: each
    name cut to LABEL_CHARS on the axis, and a left margin that fits the longest. The bars keep the whole names,
    so two names that are cut alike stay two bars, and the hover text shows them whole."""
    names = list(dict.fromkeys(name for trace in traces for name in trace.y or ()))  # stacked traces repeat them
    whole = [html.unescape(name) for name in names]
    shown = [_cut(name) for name in whole]
    axis = dict(extra)
    if shown != whole:  # else the bars' own names are the ticks
        axis.update(tickmode="array", tickvals=names, ticktext=[plot_text(name) for name in shown])
    return axis, {**_MARGIN, "l": int(max(map(len, shown), default=0) * _CHAR_PX) + 16}


def _cut(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1].rstrip() + "…"


def _bar_height(rows: int) -> int:
    return 120 + 26 * max(rows, 1)


def _top(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The MAX_BARS largest rows by column, largest at the top of a horizontal bar chart."""
    return frame.nlargest(MAX_BARS, column).iloc[::-1]


def _labels(frame: pd.DataFrame, label: str) -> list[str]:
    # Two models may share a display name; the provider tells them apart.
    if "provider_name" in frame and frame[label].duplicated(keep=False).any():
        return [plot_text(f"{n} ({p})") for n, p in zip(frame[label], frame["provider_name"], strict=True)]
    return [plot_text(n) for n in frame[label]]


def jobs_per_group(usage: pd.DataFrame, label: str, *, title: str = "Jobs") -> go.Figure:
    """Stacked horizontal bars: completed, failed and other jobs, busiest at the top."""
    top = _top(usage[usage["total_jobs"] > 0], "total_jobs")
    names = _labels(top, label)
    traces = [
        go.Bar(
            y=names,
            x=top[column],
            name=status.capitalize() if status != "other" else "Other (queued, processing, cancelled)",
            orientation="h",
            marker={"color": STATUS_COLOURS[status]},
            customdata=top["total_jobs"],
            hovertemplate=f"%{{y}}<br>{status}: %{{x:,}} of %{{customdata:,}} jobs<extra></extra>",
        )
        for status, column in (("completed", "completed_jobs"), ("failed", "failed_jobs"), ("other", "other_jobs"))
    ]
    yaxis, margin = _name_axis(traces)
    return _figure(
        traces,
        title=title,
        height=_bar_height(len(top)),
        barmode="stack",
        xaxis=_axis("Jobs"),
        yaxis=yaxis,
        margin=margin,
    )


def _value_bars(
    top: pd.DataFrame, label: str, column: str, *, colour: str, text: list[str], customdata, hover: str
) -> go.Bar:
    """One horizontal bar per row with its value written beside it."""
    return go.Bar(
        y=_labels(top, label),
        x=top[column],
        orientation="h",
        marker={"color": colour},
        text=text,
        textposition="outside",
        customdata=customdata,
        hovertemplate=hover,
        cliponaxis=False,
    )


def failure_rates(usage: pd.DataFrame, label: str, *, title: str = "Failure rate") -> go.Figure:
    """Failure rate per group, highest at the top, with the volume behind each rate beside its bar."""
    top = _top(usage[usage["failure_rate"].notna()], "failure_rate")
    bars = [
        _value_bars(
            top,
            label,
            "failure_rate",
            colour=STATUS_COLOURS["failed"],
            text=[
                f"{r:.1%} of {c + f:,}"
                for r, c, f in zip(top["failure_rate"], top["completed_jobs"], top["failed_jobs"], strict=True)
            ],
            customdata=top[["failed_jobs", "completed_jobs"]],
            hover="%{y}<br>%{x:.2%} failed: %{customdata[0]:,} failed, %{customdata[1]:,} completed<extra></extra>",
        )
    ]
    peak = float(top["failure_rate"].max()) if len(top) else 0.0
    yaxis, margin = _name_axis(bars)
    return _figure(
        bars,
        title=title,
        height=_bar_height(len(top)),
        showlegend=False,
        xaxis={
            "title": {"text": "Failed ÷ finished jobs"},
            "tickformat": ".0%",
            "range": [0, max(peak * 1.7, 0.01)],
        },
        yaxis=yaxis,
        margin=margin,
    )


def jobs_per_day(days: pd.DataFrame, *, title: str = "Jobs per day (UTC)") -> go.Figure:
    """Stacked bars per day, one colour per status in the usual order."""
    present = [s for s in STATUS_ORDER if s in set(days["status"])]
    present += sorted(set(days["status"]) - set(STATUS_ORDER))
    traces = []
    for status in present:
        part = days[days["status"] == status]
        traces.append(
            go.Bar(
                x=part["day"],
                y=part["jobs"],
                name=plot_text(status).capitalize(),
                marker={"color": STATUS_COLOURS.get(status, STATUS_COLOURS["other"])},
                hovertemplate=f"%{{x|%a %d %b %Y}}<br>{plot_text(status)}: %{{y:,}}<extra></extra>",
            )
        )
    return _figure(
        traces,
        title=title,
        height=360,
        barmode="stack",
        xaxis=_axis("Day (UTC)"),
        yaxis=_axis("Jobs"),
        margin={**_MARGIN, "b": 72},  # a date's ticks may take two lines
    )


def quality(usage: pd.DataFrame, label: str, *, title: str = "Average quality rating") -> go.Figure:
    """Average rating (1 to 5) per group with how many jobs were rated; unrated groups left out."""
    top = _top(usage[usage["rated_jobs"] > 0], "rated_jobs").sort_values("avg_quality_rating", kind="stable")
    bars = [
        _value_bars(
            top,
            label,
            "avg_quality_rating",
            colour=STATUS_COLOURS["completed"],
            text=[f"{r:.2f} ({n:,})" for r, n in zip(top["avg_quality_rating"], top["rated_jobs"], strict=True)],
            customdata=top["rated_jobs"],
            hover="%{y}<br>%{x:.2f} average from %{customdata:,} ratings<extra></extra>",
        )
    ]
    yaxis, margin = _name_axis(bars)
    return _figure(
        bars,
        title=title,
        height=_bar_height(len(top)),
        showlegend=False,
        xaxis={
            "title": {"text": "Rating, 1 to 5 (rated jobs)"},
            "range": [0, 7],
            "tickvals": [1, 2, 3, 4, 5],
        },
        yaxis=yaxis,
        margin=margin,
    )


def spend(costed: pd.DataFrame, label: str = "display_name", *, title: str = "Estimated spend") -> go.Figure:
    """Estimated spend per group (label: the model's display_name, or the grouping's column of
    services.spend.group_spend), one colour per currency (never added across currencies)."""
    top = _top(costed[costed["spend"] > 0], "spend")
    traces = []
    for currency in sorted(set(top["currency"])):
        part = top[top["currency"] == currency]
        if "basis" in part:  # one model: how it was costed
            detail = [plot_text(b) for b in part["basis"]]
        else:  # a group: how many models it adds up
            detail = [f"{n:,} costed model{'s' if n != 1 else ''}" for n in part["models"]]
        traces.append(
            go.Bar(
                y=_labels(part, label),
                x=part["spend"],
                name=plot_text(currency),
                orientation="h",
                customdata=[[d, n] for d, n in zip(detail, part["completed_jobs"], strict=True)],
                hovertemplate=(
                    f"%{{y}}<br>%{{x:,.2f}} {plot_text(currency)}<br>%{{customdata[1]:,}} completed jobs"
                    "<br>%{customdata[0]}<extra></extra>"
                ),
            )
        )
    currencies = sorted(set(top["currency"]))
    axis = f"Estimated spend ({plot_text(currencies[0])})" if len(currencies) == 1 else "Estimated spend"
    yaxis, margin = _name_axis(traces, categoryorder="total ascending")
    return _figure(
        traces,
        title=title,
        height=_bar_height(len(top)),
        xaxis=_axis(axis),
        yaxis=yaxis,
        margin=margin,
    )


def model_over_time(days: pd.DataFrame, *, title: str) -> go.Figure:
    """One model's jobs per day by status, with its daily failure rate on a second axis."""
    fig = jobs_per_day(days, title=title)
    per_status = days.pivot_table(index="day", columns="status", values="jobs", aggfunc="sum", fill_value=0)
    rate = failure_rate(
        per_status.get("failed", 0 * per_status.sum(axis=1)), per_status.get("completed", 0 * per_status.sum(axis=1))
    ).dropna()
    fig.add_scatter(
        x=rate.index,
        y=rate.values,
        name="Failure rate",
        yaxis="y2",
        mode="lines",
        line={"color": "#000000", "width": 1.5},
        hovertemplate="%{x|%a %d %b %Y}<br>failure rate: %{y:.1%}<extra></extra>",
    )
    fig.update_layout(
        margin={"r": 64},  # the rate's ticks and title on the right (the rest as jobs_per_day set it)
        yaxis2={
            "automargin": False,
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "rangemode": "tozero",
            "title": "Failure rate",
            "showgrid": False,
        },
    )
    return fig
