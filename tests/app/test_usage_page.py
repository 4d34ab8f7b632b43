"""The Usage page: charts and tables that equal the seed's counts, filters in the URL, exports, hostile names."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.services.usage import UsageRange
from dashboard.ui.usage_view import CHART_OPEN
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
    assert not _charts(at)  # the chart is drawn once its expander is opened
    at.session_state[CHART_OPEN.format(model)] = True  # what clicking the expander's header does
    at.run()
    assert any("jobs per day" in c["layout"]["title"]["text"] for c in _charts(at))
    assert "CSV: jobs-per-day-of-model" in " ".join(_download_labels(at))
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


# ─── Exact at every click, with the catalogue side cached ────────────────────────────────────────────
def _served(at, managers) -> dict[str, tuple[str, bytes]]:
    """Each download button's file name and what it serves (its deferred callable run, as a click would)."""
    files = {}
    for button in at.get("download_button"):
        entry = next(
            m._deferred_callables[button.proto.deferred_file_id]
            for m in managers
            if button.proto.deferred_file_id in m._deferred_callables
        )
        data = entry["callable"]()
        files[button.proto.label] = (entry["filename"], data.encode("utf-8") if isinstance(data, str) else data)
    return files


def _per_model(engine, **filters) -> dict[tuple[str, str], int]:
    """Jobs per (model, provider) as the uncached service reads them."""
    from dashboard.services.usage import UsageFilters, UsageService

    frame = UsageService(engine, user_id=user_id(engine, "admin@example.com")).by_model(filters=UsageFilters(**filters))
    return {(r.display_name, r.provider_name): int(r.total_jobs) for r in frame.itertuples()}


def _table_csv(at, downloads) -> dict[tuple[str, str], int]:
    _, data = _served(at, downloads)["Export CSV"]
    assert hostile.csv_problems(data) == []
    return {(r["Model"], r["provider_name"]): int(r["total_jobs"]) for r in hostile.csv_rows(data)}


def test_the_page_equals_the_uncached_read_after_job_and_catalogue_writes(
    demo_db, engine, signed_in, downloads, monkeypatch
):
    reads = _count_catalogue_reads(monkeypatch)
    at = signed_in(page=PAGE, range="all", active="0")
    assert _table_csv(at, downloads) == _per_model(engine, active_only=False)
    with engine.connect() as conn:
        first, second = conn.execute(sa.text("select id from api_models order by display_name limit 2")).scalars()
    for status in ("completed", "failed", "queued"):
        make_job(engine, first, status=status, quality_rating=3)
    with engine.begin() as conn:  # a catalogue write between two clicks: a rename and a price
        conn.execute(sa.text("update api_models set display_name = 'Renamed' where id = :m"), {"m": second})
        conn.execute(
            sa.text("update api_models set pricing = cast(:p as jsonb) where id = :m"),
            {"m": first, "p": '{"per_image": 2, "currency": "EUR", "billing_unit": "per_image"}'},
        )
    at.run()
    assert not at.exception, at.exception
    assert reads == {"whole": 1, "partial": 1}  # the click after the writes read the two models they touched
    seen = _table_csv(at, downloads)
    assert seen == _per_model(engine, active_only=False) and any(name == "Renamed" for name, _ in seen)
    assert int(_metrics(at)["Jobs"].replace(",", "")) == sum(seen.values())
    _, spend = _served(at, downloads)["CSV: spend-per-model-all-time"]
    completed = _per_model_completed(engine, first)
    assert {r["currency"]: float(r["spend"]) for r in hostile.csv_rows(spend) if r["currency"] == "EUR"} == {
        "EUR": 2.0 * completed
    }


def _count_catalogue_reads(monkeypatch) -> dict[str, int]:
    """How often the page reads the catalogue whole, and only what writes touched since (UsageService's two reads)."""
    from dashboard.services.usage import UsageService

    reads = {"whole": 0, "partial": 0}
    whole, partial = UsageService.catalogue, UsageService.catalogue_since

    def counted_whole(self):
        reads["whole"] += 1
        return whole(self)

    def counted_partial(self, writes, epoch):
        reads["partial"] += 1
        return partial(self, writes, epoch)

    monkeypatch.setattr(UsageService, "catalogue", counted_whole)
    monkeypatch.setattr(UsageService, "catalogue_since", counted_partial)
    return reads


def test_models_hidden_renamed_and_added_by_other_code_are_read_back_alone(
    demo_db, engine, signed_in, downloads, monkeypatch
):
    reads = _count_catalogue_reads(monkeypatch)
    at = signed_in(page=PAGE, range="all")
    with engine.connect() as conn:
        renamed, hidden = conn.execute(
            sa.text("select id from api_models where is_active order by display_name limit 2")
        ).scalars()
        provider = conn.execute(sa.text("select provider_id from api_models where id = :m"), {"m": renamed}).scalar()
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set display_name = :n where id = :m"), {"n": HOSTILE, "m": renamed})
        conn.execute(sa.text("update api_models set is_active = false where id = :m"), {"m": hidden})
    added = make_model(engine, provider, display_name=hostile.RLO)  # a provider's write would be read whole
    make_job(engine, added)
    make_job(engine, renamed)
    at.run()
    assert not at.exception, at.exception
    assert reads == {"whole": 1, "partial": 1}
    seen = _table_csv(at, downloads)
    assert seen == _per_model(engine, active_only=True)
    assert {name for name, _ in seen} >= {HOSTILE, hostile.RLO}


def test_no_click_changes_the_catalogue_frame_every_click_and_session_shares(demo_db, engine, signed_in):
    from dashboard.ui import kept_reads

    def frames() -> dict:  # this test's database's (other tests' are kept there too)
        lock, store = kept_reads._store()
        with lock:
            return {
                key: kept.value
                for key, kept in store.items()
                if "usage catalogue" in key and sa.engine.make_url(key[0]).database == engine.url.database
            }

    from dashboard.services.usage import UsageService
    from dashboard.ui.usage_report import _framed, _ordered

    signed_in(page=PAGE, range="all")
    read_now = _ordered(_framed(UsageService(engine, user_id=user_id(engine, "admin@example.com")).catalogue()))
    assert len(frames()) == 1
    with engine.connect() as conn:
        model = conn.execute(sa.text("select id from api_models where is_active limit 1")).scalar_one()
    for query in (
        {"range": "7d", "modality": "video", "group": "provider", "active": "0"},
        {"range": "all", "group": "task"},
        {"range": "all", "model": str(model)},
        {"range": "24h", "group": "modality"},
    ):
        at = signed_in(page=PAGE, **query)
        assert not at.exception, at.exception
    (kept,) = frames().values()
    pd.testing.assert_frame_equal(kept, read_now)


def _per_model_completed(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select count(*) from jobs where api_model_id = :m and status = 'completed'"), {"m": model}
        ).scalar_one()


def test_the_cached_catalogue_gives_the_report_the_uncached_read_gives(demo_db, engine):
    from dashboard.services.spend import BASIS_COLUMNS, cost_bases, estimate_spend
    from dashboard.services.usage import UsageFilters, UsageRange, UsageService

    service = UsageService(engine, user_id=user_id(engine, "admin@example.com"))
    models = service.catalogue()
    cached = models.drop(columns=["pricing", "input_defaults"]).join(cost_bases(models.pricing, models.input_defaults))
    with engine.connect() as conn:
        model, provider = conn.execute(sa.text("select id, provider_id from api_models limit 1")).one()
    make_job(engine, model, status="failed")
    for period in (UsageRange(), UsageRange.preset("24h"), UsageRange.preset("30d")):
        for filters in (UsageFilters(), UsageFilters(active_only=False), UsageFilters(provider_id=provider)):
            (usage, days), (plain, plain_days) = (
                service.report(period, filters, catalogue=cached),
                service.report(period, filters),
            )
            shared = [c for c in plain.columns if c not in ("pricing", "input_defaults")]
            pd.testing.assert_frame_equal(usage[shared], plain[shared])
            pd.testing.assert_frame_equal(days, plain_days)
            assert set(BASIS_COLUMNS) <= set(usage.columns)
            for mine, theirs in zip(estimate_spend(usage), estimate_spend(plain), strict=True):
                pd.testing.assert_frame_equal(mine, theirs)  # spend from cached bases equals spend from the JSON
            by_day = service.by_day(period, filters)
            assert int(days["jobs"].sum()) == int(by_day["jobs"].sum()) == int(usage["total_jobs"].sum())


def test_a_catalogue_write_made_in_sql_between_clicks_is_seen(demo_db, engine, signed_in):
    at = signed_in(page=PAGE, range="all")
    shown = set(at.dataframe[-1].value["Model"])
    with engine.connect() as conn:
        gone, renamed = conn.execute(
            sa.text("select id from api_models where is_active order by display_name limit 2")
        ).scalars()
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set is_active = false where id = :m"), {"m": gone})
        conn.execute(sa.text("update api_models set display_name = :n where id = :m"), {"n": hostile.SQL, "m": renamed})
    at.run()
    now = set(at.dataframe[-1].value["Model"])
    assert hostile.SQL in now and len(now) == len(shown) - 1


def test_the_model_filter_searches_with_hostile_text(demo_db, engine, signed_in):
    provider = make_provider(engine, name="evil", display_name=HOSTILE)
    for name in hostile.TEXT:
        make_job(engine, make_model(engine, provider, display_name=name), status="completed")
    at = signed_in(page=PAGE, range="all")
    for text in [*hostile.TEXT, hostile.LONG[:100], ".*", "%", "\\"]:
        at.text_input(key="u_model_q").input(text).run()
        assert not at.exception, at.exception
        options = at.selectbox(key="u_model").options
        assert len(options) <= 52 and all(hostile.hidden_in(o) is None for o in options)
    at.text_input(key="u_model_q").input(hostile.SQL[:12]).run()
    model = at.selectbox(key="u_model").options[1]
    assert hostile.SQL in model
    at.selectbox(key="u_model").select_index(1).run()
    assert list(at.dataframe[-1].value["Model"]) == [hostile.SQL]
    assert at.query_params["model"] in (
        str(at.selectbox(key="u_model").value),
        [str(at.selectbox(key="u_model").value)],
    )


def test_a_link_to_one_model_still_opens_it(demo_db, engine, signed_in):
    with engine.connect() as conn:
        model = conn.execute(sa.text("select id from api_models where display_name = 'SDXL 1.0'")).scalar_one()
    at = signed_in(page=PAGE, range="all", model=str(model), active="0")
    assert not at.exception, at.exception
    assert at.selectbox(key="u_model").value == str(model)
    assert list(at.dataframe[-1].value["Model"]) == ["SDXL 1.0"]


def test_a_long_table_shows_its_first_rows_and_its_csv_every_row(demo_db, engine, signed_in, downloads):
    provider = make_provider(engine, name="bulk")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into api_models (provider_id, model_key, display_name, modality, task) "
                "select :p, 'bulk/' || g, 'Bulk ' || g, 'image', 'generation' from generate_series(1, 150) g"
            ),
            {"p": provider},
        )
    at = signed_in(page=PAGE, range="all", active="0")
    assert not at.exception, at.exception
    with engine.connect() as conn:
        models = conn.execute(sa.text("select count(*) from api_models")).scalar_one()
    assert len(at.dataframe[-1].value) == 100
    assert f"The first 100 of {models:,} models; the CSV has every one." in texts(at)
    assert len(_table_csv(at, downloads)) == models
    assert len(at.selectbox(key="u_model").options) <= 52  # a search, not a list of every model
    sent = sum(
        len(e.proto.SerializeToString()) for kind in ("plotly_chart", "dataframe", "selectbox") for e in at.get(kind)
    )
    assert sent < 300_000
