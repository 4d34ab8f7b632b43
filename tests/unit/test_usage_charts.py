"""Usage charts: names are text, colours follow the status, empty inputs draw empty charts."""

import html
import json

import pandas as pd
import pytest

from dashboard.services.usage import group_usage
from dashboard.ui import usage_charts as charts
from dashboard.ui.usage_view import days_table

HOSTILE = ["<script>alert(1)</script>", '<a href="javascript:alert(1)">x</a>', "<b>bold</b>", "a & b", "=1+1"]


def _usage(names, provider="p"):
    rows = []
    for i, name in enumerate(names):
        rows.append(
            {
                "model_id": i,
                "display_name": name,
                "provider_name": provider,
                "modality": "image",
                "task": "generation",
                "total_jobs": 10 + i,
                "completed_jobs": 8,
                "failed_jobs": 1 + i % 2,
                "other_jobs": 1 + i - i % 2,
                "rated_jobs": 4,
                "rating_sum": 14,
                "failure_rate": 0.1,
                "avg_quality_rating": 3.5,
            }
        )
    return pd.DataFrame(rows)


def _spec(figure) -> str:
    return json.dumps(figure.to_plotly_json(), default=str)


@pytest.mark.parametrize(
    "build",
    [
        lambda u: charts.jobs_per_group(u, "display_name"),
        lambda u: charts.failure_rates(u, "display_name"),
        lambda u: charts.quality(u, "display_name"),
    ],
)
def test_database_text_reaches_plotly_as_literal_text(build):
    spec = _spec(build(_usage(HOSTILE)))
    for raw in ("<script", "<a href", "<b>"):
        assert raw not in spec
    assert "&lt;script&gt;" in spec and "a &amp; b" in spec


def test_the_spend_chart_escapes_names_bases_and_currencies():
    costed = pd.DataFrame(
        [
            {
                "model_id": 1,
                "display_name": "<i>x</i>",
                "provider_name": "p",
                "completed_jobs": 3,
                "spend": 1.5,
                "currency": "<b>",
                "basis": "<img>",
            }
        ]
    )
    spec = _spec(charts.spend(costed))
    assert "<i>" not in spec and "<img>" not in spec and '"<b>"' not in spec


def test_namesakes_are_told_apart_by_provider():
    usage = pd.concat([_usage(["Same"], "alpha"), _usage(["Same"], "beta")], ignore_index=True)
    labels = charts.jobs_per_group(usage, "display_name").data[0].y
    assert set(labels) == {"Same (alpha)", "Same (beta)"}


def test_each_status_keeps_its_colour_everywhere():
    days = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-11-01"] * 3, utc=True),
            "status": ["queued", "failed", "completed"],
            "jobs": [1, 2, 3],
        }
    )
    per_day = {t.name: t.marker.color for t in charts.jobs_per_day(days).data}
    per_model = {t.name: t.marker.color for t in charts.jobs_per_group(_usage(["m"]), "display_name").data}
    assert per_day["Failed"] == per_model["Failed"] == charts.STATUS_COLOURS["failed"]
    assert per_day["Completed"] == per_model["Completed"] == charts.STATUS_COLOURS["completed"]
    assert [t.name for t in charts.jobs_per_day(days).data] == ["Completed", "Failed", "Queued"]


def test_only_the_busiest_bars_are_drawn():
    usage = _usage([f"m{i}" for i in range(60)])
    assert len(charts.jobs_per_group(usage, "display_name").data[0].y) == charts.MAX_BARS
    assert charts.jobs_per_group(usage, "display_name").data[0].y[-1] == "m59"  # the busiest at the top


def test_empty_inputs_draw_empty_charts():
    empty = _usage([]).reindex(columns=_usage(["x"]).columns)
    for figure in (
        charts.jobs_per_group(empty, "display_name"),
        charts.failure_rates(empty, "display_name"),
        charts.quality(empty, "display_name"),
    ):
        assert all(len(t.y or []) == 0 for t in figure.data)
    assert days_table(pd.DataFrame(columns=["day", "status", "jobs"])).columns.tolist() == ["day"]


def test_the_day_table_has_a_column_per_status_and_a_total():
    days = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-11-01", "2026-11-01", "2026-11-02"], utc=True),
            "status": ["failed", "completed", "completed"],
            "jobs": [1, 5, 2],
        }
    )
    table = days_table(days)
    assert table.columns.tolist() == ["day", "completed", "failed", "total"]
    assert table.to_dict("records")[0] == {"day": "2026-11-01", "completed": 5, "failed": 1, "total": 6}


def test_grouping_recomputes_rates_from_counts():
    usage = _usage(["a", "b"])
    usage["provider_name"] = ["x", "x"]
    grouped = group_usage(usage, "provider")
    assert grouped.loc[0, "total_jobs"] == 21 and grouped.loc[0, "avg_quality_rating"] == pytest.approx(3.5)
    assert grouped.loc[0, "failure_rate"] == pytest.approx(3 / 19)  # failed of finished (16 completed + 3 failed)
    with pytest.raises(ValueError):
        group_usage(usage, "display_name; drop")


def test_spend_per_group_is_drawn_per_group_and_currency():
    spent = pd.DataFrame(
        [
            {"provider_name": HOSTILE[0], "currency": "USD", "spend": 6.5, "completed_jobs": 110, "models": 2},
            {"provider_name": "beta", "currency": "<b>EUR</b>", "spend": 1.5, "completed_jobs": 3, "models": 1},
        ]
    )
    figure = charts.spend(spent, "provider_name", title="Estimated spend per provider")
    spec = _spec(figure)
    assert "<script>" not in spec and "<b>EUR" not in spec
    assert sorted(t.name for t in figure.data) == ["&lt;b&gt;EUR&lt;/b&gt;", "USD"]
    assert any(row[0] == "2 costed models" for t in figure.data for row in t.customdata)


def test_csv_tables_round_rates_and_name_the_group():
    from dashboard.services.usage import round_rates
    from dashboard.ui.usage_view import chart_table, file_slug

    usage = _usage(HOSTILE[:2])
    usage["failure_rate"] = [1 / 3, None]
    usage["avg_quality_rating"] = [3.123456789, float("nan")]
    table = chart_table(usage, "model", ["failed_jobs", "completed_jobs", "failure_rate", "avg_quality_rating"])
    assert list(table.columns) == [
        "Model",
        "Provider",
        "failed_jobs",
        "completed_jobs",
        "failure_rate",
        "avg_quality_rating",
    ]
    rounded = round_rates(table)
    assert rounded.loc[0, "failure_rate"] == 0.3333 and rounded.loc[0, "avg_quality_rating"] == 3.1235
    assert pd.isna(rounded.loc[1, "failure_rate"]) and rounded.loc[0, "Model"] == HOSTILE[0]
    assert list(chart_table(group_usage(usage, "task"), "task", ["total_jobs"]).columns) == ["Task", "total_jobs"]
    assert file_slug("jobs per", "provider", "Last 30 days") == "jobs-per-provider-last-30-days"
    assert file_slug("spend per", "model", "2026-01-01 to 2026-01-31") == "spend-per-model-2026-01-01-to-2026-01-31"


def _all_charts(usage):
    costed = usage.assign(spend=1.0, currency="USD", basis="per image")
    days = pd.DataFrame({"day": pd.to_datetime(["2026-11-01"], utc=True), "status": ["completed"], "jobs": [3]})
    return [
        charts.jobs_per_group(usage, "display_name"),
        charts.failure_rates(usage, "display_name"),
        charts.quality(usage, "display_name"),
        charts.spend(costed),
        charts.jobs_per_day(days),
        charts.model_over_time(days, title="m"),
    ]


def test_no_chart_asks_plotly_to_measure_its_margins():
    """automargin (on for every axis in Streamlit's theme) draws a chart twice: about 160 ms of a Usage click."""
    for figure in _all_charts(_usage(["a", "b"])):
        layout = figure.to_plotly_json()["layout"]
        axes = [value for name, value in layout.items() if name.startswith(("xaxis", "yaxis"))]
        assert len(axes) >= 2 and all(axis.get("automargin") is False for axis in axes)


def test_long_names_are_cut_on_the_axis_and_whole_in_the_bars():
    long = "Vendor model with a name far longer than the axis has room for"
    names = [f"{long} A", f"{long} B", "x" * 37 + "<b>bold</b>", "short"]
    for figure in _all_charts(_usage(names))[:4]:
        bars = list(dict.fromkeys(name for trace in figure.data for name in trace.y))
        axis = figure.layout.yaxis
        assert list(axis.tickvals) == bars and len(set(bars)) == 4  # cut alike, still two bars
        shown = [html.unescape(text) for text in axis.ticktext]
        assert all(len(text) <= charts.LABEL_CHARS for text in shown)
        assert sorted(shown) == sorted([long[:39].rstrip() + "…"] * 2 + ["x" * 37 + "<b…", "short"])
        assert "<b" not in "".join(axis.ticktext)  # cut first, then escaped: no tag, no broken entity
        assert figure.layout.margin.l == int(charts.LABEL_CHARS * 7.5) + 16


def test_names_that_fit_are_sent_once():
    figure = charts.jobs_per_group(_usage(["short", "also short"]), "display_name")
    assert figure.layout.yaxis.tickvals is None and figure.layout.yaxis.ticktext is None
    assert figure.layout.margin.l == int(len("also short") * 7.5) + 16
