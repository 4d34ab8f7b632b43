"""The Usage page: charts and tables that equal the seed's counts, filters in the URL, exports, hostile names."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from dashboard.services.usage import UsageRange
from tests import hostile
from tests.app.conftest import texts, user_id
from tests.factories import make_job, make_model, make_provider

PAGE = "pages/usage.py"
HOSTILE = f"{hostile.HTML} {hostile.LINK} {hostile.HYPERLINK}"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _charts(at) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def _download_labels(at) -> list[str]:
    return [e.proto.label for e in at.get("download_button")]


def _seed_counts(engine, since=None) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "select count(j.id) as total, count(j.id) filter (where j.status = 'completed') as completed "
                "from api_models am join jobs j on j.api_model_id = am.id "
                "where am.is_active and (cast(:since as timestamptz) is null or j.created_at >= :since)"
            ),
            {"since": since},
        ).one()
    return {"total": row.total, "completed": row.completed}


def test_an_admin_sees_exact_counts_and_every_chart(demo_db, engine, signed_in):
    at = signed_in(page=PAGE, range="all")
    assert not at.exception, at.exception
    seed = _seed_counts(engine)
    assert _metrics(at)["Jobs"] == f"{seed['total']:,}" and _metrics(at)["Completed"] == f"{seed['completed']:,}"
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert titles == [
        "Jobs per model",
        "Failure rate per model",
        "Jobs per day (UTC)",
        "Average quality rating per model",
        "Estimated spend per model",
    ]
    # One colour per status in every chart.
    colours = {t["name"]: t["marker"]["color"] for c in _charts(at) for t in c["data"] if t.get("name") == "Failed"}
    assert colours == {"Failed": "#D55E00"}
    said = texts(at)
    assert "Not costed" in said  # the demo has token- and character-priced models
    assert "jobs do not record tokens" in at.dataframe[0].value.to_string()


def test_a_job_written_a_moment_ago_shows_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in(page=PAGE, range="24h")
    before = int(_metrics(at)["Jobs"].replace(",", ""))
    with engine.connect() as conn:
        model = conn.execute(sa.text("select id from api_models where is_active limit 1")).scalar_one()
    make_job(engine, model, status="failed")
    at.run()
    assert int(_metrics(at)["Jobs"].replace(",", "")) == before + 1


def test_filters_come_from_and_go_to_the_url(demo_db, engine, signed_in):
    at = signed_in(page=PAGE, range="7d", modality="video", group="provider", active="0")
    assert not at.exception
    assert at.segmented_control(key="u_range").value == "7d"
    assert at.selectbox(key="u_modality").value == "video"
    assert at.selectbox(key="u_group").value == "provider"
    assert at.toggle(key="u_active").value is False
    at.selectbox(key="u_group").set_value("task").run()
    assert at.query_params["group"] == ["task"] if isinstance(at.query_params["group"], list) else "task"
    grouped = at.dataframe[-1].value
    assert list(grouped.columns)[0] == "Task" and set(grouped["Task"]) <= {"generation", "image-to-video"}


@pytest.mark.parametrize(
    "query",
    [
        {"range": "'; drop table jobs; --"},
        {"provider": "not-a-uuid"},
        {"model": "00000000-0000-0000-0000-000000000000"},
        {"modality": "<script>"},
        {"task": "x" * 5000},
        {"range": "custom", "from": "2026-02-30", "to": "\x00"},
        {"group": "display_name; select 1"},
        {"active": "yes"},
    ],
)
def test_hostile_url_parameters_fall_back_to_defaults(demo_db, engine, signed_in, query):
    at = signed_in(page=PAGE, **query)
    assert not at.exception, at.exception
    assert at.title[0].value == "Usage"
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from jobs")).scalar_one() >= 300


def test_a_custom_range_reads_whole_utc_days(demo_db, engine, signed_in):
    at = signed_in(page=PAGE, range="custom", **{"from": "2020-01-01", "to": "2020-01-31"})
    assert not at.exception
    assert "No jobs in this range" in texts(at)
    assert at.query_params["from"] in ("2020-01-01", ["2020-01-01"])


def test_hostile_model_names_are_text_in_charts_and_tables(demo_db, engine, signed_in):
    provider = make_provider(engine, name="evil", display_name=HOSTILE)
    price = {"per_image": 0.5, "currency": "USD", "billing_unit": "per_image"}
    model = make_model(engine, provider, display_name=HOSTILE, pricing=price)
    with engine.begin() as conn:  # the busiest model, so it is in every top-25 chart
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, quality_rating) "
                "select :m, 'completed', 5 from generate_series(1, 500)"
            ),
            {"m": model},
        )
    at = signed_in(page=PAGE, range="all")
    assert not at.exception
    spec = json.dumps(_charts(at))
    assert "<img" not in spec and "&lt;img src=x onerror=alert(1)&gt;" in spec
    assert HOSTILE in set(at.dataframe[-1].value["Model"])  # shown as text in the table
    assert "CSV: jobs-per-model-all-time" in _download_labels(at) and "Export CSV" in _download_labels(at)


def test_plain_users_are_not_given_the_page(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")


def test_an_admin_whose_role_is_revoked_sees_nothing_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in(page=PAGE)
    assert _charts(at)
    with engine.begin() as conn:
        conn.execute(sa.text("delete from user_roles where user_id = :u"), {"u": user_id(engine, "admin@example.com")})
    at.run()
    assert not _charts(at) and not at.metric


def test_an_empty_database_says_so(empty_db, engine, signed_in):
    from tests.factories import make_user

    make_user(engine, "admin", email="admin@example.com")
    at = signed_in(page=PAGE)
    assert not at.exception
    assert "No model matches these filters" in texts(at)


def test_the_model_editor_shows_the_models_usage(demo_db, engine, signed_in):
    with engine.connect() as conn:
        model = conn.execute(sa.text("select id from api_models where display_name = 'SDXL 1.0'")).scalar_one()
    at = signed_in(page="pages/model_editor.py", id=str(model))
    assert not at.exception
    assert "Usage" in [s.value for s in at.subheader]
    period = UsageRange.preset("30d")
    with engine.connect() as conn:
        jobs = conn.execute(
            sa.text("select count(*) from jobs where api_model_id = :m and created_at >= :s"),
            {"m": model, "s": period.start},
        ).scalar_one()
    assert _metrics(at)["Jobs"] == f"{jobs:,}"
    assert any("jobs per day" in c["layout"]["title"]["text"] for c in _charts(at))
    link = [e for e in at.get("page_link") if "usage" in e.proto.page]
    assert link and f"model={model}" in link[0].proto.query_string


def test_spend_and_every_csv_follow_the_grouping_and_say_what_they_hold(demo_db, engine, signed_in):
    provider = make_provider(engine, name="evil", display_name=HOSTILE)
    price = {"per_image": 0.5, "currency": "USD", "billing_unit": "per_image"}
    model = make_model(engine, provider, display_name=HOSTILE, pricing=price)
    make_job(engine, model, status="queued")  # a group with no finished job: no failure rate, and no "None"
    at = signed_in(page=PAGE, range="all", group="provider")
    assert not at.exception, at.exception
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert titles == [
        "Jobs per provider",
        "Failure rate per provider",
        "Jobs per day (UTC)",
        "Average quality rating per provider",
        "Estimated spend per provider",
    ]
    spend = _charts(at)[-1]
    names = {name for trace in spend["data"] for name in trace["y"]}
    with engine.connect() as conn:  # the providers of active models, as the seed's query counts them
        costed = set(
            conn.execute(
                sa.text(
                    "select distinct p.name from api_providers p join api_models m on m.provider_id = p.id "
                    "where m.is_active"
                )
            ).scalars()
        )
    assert names and names <= costed | {"evil"}  # providers' names, never models'
    assert _download_labels(at)[:5] == [
        "CSV: jobs-per-provider-all-time",
        "CSV: failure-rate-per-provider-all-time",
        "CSV: jobs-per-day-all-time",
        "CSV: quality-per-provider-all-time",
        "CSV: spend-per-provider-all-time",
    ]
    table = at.dataframe[-1]
    assert table.proto.placeholder == "—"
    assert table.value.set_index("Provider").loc["evil", "total_jobs"] == 1


def test_the_model_usage_tile_says_no_rate_when_nothing_finished(demo_db, engine, signed_in):
    model = make_model(engine, display_name=hostile.SQL)
    make_job(engine, model, status="queued")
    at = signed_in(page="pages/model_editor.py", id=str(model))
    assert not at.exception, at.exception
    assert _metrics(at)["Failure rate"] == "—" and _metrics(at)["Jobs"] == "1"
