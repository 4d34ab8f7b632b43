"""The Health page and the Overview's Health part: findings as alerts (worst first), the table and its CSV equal to
SQL over the jobs table, the window in the URL, what each figure means, hostile names, and admins only."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.export import unguard
from dashboard.queries import latency
from dashboard.services.errors import NotAllowed
from dashboard.services.health import HealthReport, HealthService
from dashboard.services.health_rules import HealthThresholds
from dashboard.text import md_escape, visible
from dashboard.ui import health_view
from tests import hostile
from tests.app.conftest import APP, texts, user_id
from tests.app.test_live_project import live_admin  # noqa: F401 (a fixture: every live shape)
from tests.factories import make_model, make_provider, make_user

PAGE = "pages/health.py"
OVERVIEW = "pages/overview.py"
ADMIN = "solo@example.com"
HOSTILE = f"{hostile.LINK} {hostile.HTML} {hostile.URL}"


def _jobs(engine, model, n: int, *, status: str, ago: timedelta = timedelta(0), seconds: float | None = None) -> None:
    """n jobs on model created `ago` before now (in SQL, as the platform writes them), completed after `seconds`."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at, completed_at) "
                "select :m, :s, now() - :ago, "
                "case when cast(:secs as float8) is null then null "
                "else now() - :ago + make_interval(secs => :secs) end "
                "from generate_series(1, :n)"
            ),
            {"m": model, "s": status, "ago": ago, "secs": seconds, "n": n},
        )


@pytest.fixture
def failing(empty_db, engine) -> dict:
    """An admin; image/generation routes to a model with a hostile name that fails 30 of 40 jobs now and has 5
    jobs stuck in processing for 3 hours; next in line a healthy model; another slot healthy."""
    make_user(engine, "admin", email=ADMIN)
    provider = make_provider(engine, display_name=HOSTILE)
    routed = make_model(engine, provider, display_name=HOSTILE, is_default=True, priority=1)
    fallback = make_model(engine, provider, display_name="Flux 1.1 Pro", priority=2)
    healthy = make_model(engine, provider, display_name="Whisper", modality="audio", task="stt", is_default=True)
    _jobs(engine, routed, 30, status="failed")
    _jobs(engine, routed, 10, status="completed", seconds=5)
    _jobs(engine, routed, 5, status="processing", ago=timedelta(hours=3))
    _jobs(engine, healthy, 25, status="completed", seconds=2)
    return {"routed": routed, "fallback": fallback, "healthy": healthy}


def _open(signed_in, page=PAGE, **query):
    at = signed_in(ADMIN, page=page, **query)
    assert not at.exception, at.exception
    return at


def _alerts(at) -> list[tuple[str, str]]:
    return [("error", e.value) for e in at.error] + [("warning", w.value) for w in at.warning]


def _window_counts(engine, model, start: datetime) -> tuple[int, int, int]:
    """(jobs, failed, finished) of a model since start, counted over the jobs table itself."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select count(*), count(*) filter (where status = 'failed'), "
                "count(*) filter (where status in ('completed', 'failed')) "
                "from jobs where api_model_id = :m and created_at >= :start"
            ),
            {"m": model, "start": start},
        ).one()


def _stuck(engine, model, minutes: int = 15) -> int:
    """Queued or processing jobs whose creation hour ended at least `minutes` ago (the stated precision)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select count(*) from jobs where api_model_id = :m and status in ('queued', 'processing') "
                "and date_trunc('hour', created_at, 'UTC') + interval '1 hour' <= now() - make_interval(mins => :n)"
            ),
            {"m": model, "n": minutes},
        ).scalar_one()


def test_a_failing_routed_model_and_stuck_jobs_are_errors_worst_first(failing, engine, signed_in):
    at = _open(signed_in)
    assert at.title[0].value == "Health"
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and not at.warning, _alerts(at)
    failing_message, stuck_message = (hostile.read(e) for e in errors)
    assert failing_message.startswith(f"image/generation routes to {HOSTILE}, failing 75%")
    assert "Flux 1.1 Pro" in failing_message
    assert "5 jobs stuck in processing" in stuck_message and HOSTILE in stuck_message
    for message in errors:  # the name is shown literally: no link, image or autolink
        assert hostile.markdown_problems(message) == []
    assert "Nothing needs attention" not in texts(at)


def test_the_table_equals_sql_over_the_jobs_table(failing, engine, signed_in):
    at = _open(signed_in)
    [table] = [d.value for d in at.dataframe if "Slot" in d.value.columns]
    first = table.iloc[0]  # what needs attention comes first
    assert (first["Slot"], first["Model"], bool(first["Routed"]), first["Status"]) == (
        "image/generation",
        HOSTILE,
        True,
        "Needs attention",
    )
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    jobs, failed, finished = _window_counts(engine, failing["routed"], start)
    assert first["Jobs"] == jobs == 40  # the stuck jobs were created 3 hours ago: before the window
    assert first["Failure rate"] == pytest.approx(failed / finished)
    assert first["Stuck"] == _stuck(engine, failing["routed"]) == 5
    whisper = table.set_index("Model").loc["Whisper"]
    assert whisper["Status"] == "OK" and whisper["Jobs"] == 25 and whisper["Failure rate"] == 0
    assert "Flux 1.1 Pro" not in set(table["Model"])  # next in line, without jobs: named in the finding only


def test_the_csv_has_every_model_and_opens_safely(failing, engine, signed_in, downloads):
    from tests.app.test_usage_page import _served

    at = _open(signed_in)
    [(name, data)] = [v for k, v in _served(at, downloads).items() if k == "Export CSV"]
    assert name.startswith("health-1h-") and name.endswith(".csv")
    assert hostile.csv_problems(data) == []
    rows = {r["model"]: r for r in hostile.csv_rows(data)}
    assert set(rows) == {HOSTILE, "Whisper"}
    routed = rows[HOSTILE]
    assert (routed["routed"], routed["status"]) == ("true", "attention")
    assert (routed["jobs"], routed["stuck_jobs"]) == ("40", "5")
    assert float(routed["failure_rate"]) == 0.75 and routed["modality"] == "image"
    assert "failing 75%" in routed["reasons"]


def test_a_healthy_catalogue_says_nothing_needs_attention(empty_db, engine, signed_in):
    make_user(engine, "admin", email=ADMIN)
    model = make_model(engine, display_name=hostile.SQL, is_default=True)
    _jobs(engine, model, 30, status="completed", seconds=3)
    _jobs(engine, model, 1, status="failed")
    at = _open(signed_in)
    assert not at.error and not at.warning
    assert "Nothing needs attention" in texts(at)


def test_an_empty_catalogue_has_nothing_to_show_and_says_so(empty_db, engine, signed_in):
    make_user(engine, "admin", email=ADMIN)
    at = _open(signed_in)
    assert "Nothing needs attention" in texts(at)
    assert "No slot has a model that can take jobs" in texts(at)


def test_the_window_comes_from_and_goes_to_the_url(failing, engine, signed_in):
    at = _open(signed_in, window="24h")
    assert at.segmented_control(key="h_window").value == "24h"
    assert "the last 24 hours" in texts(at)
    at.segmented_control(key="h_window").set_value("1h").run()
    assert not at.exception
    assert "window" not in at.query_params  # the default is left out of the URL
    at.segmented_control(key="h_window").set_value("24h").run()
    assert at.query_params.get("window") in ("24h", ["24h"])


@pytest.mark.parametrize("value", ["7d", "'; drop table jobs; --", hostile.HTML, "x" * 3000, "1H", ""])
def test_a_window_the_page_does_not_know_falls_back_to_the_last_hour(failing, engine, signed_in, value):
    at = _open(signed_in, window=value)
    assert at.segmented_control(key="h_window").value == "1h"
    assert len(at.error) == 2  # the page still shows its findings
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from jobs")).scalar_one() == 70


def test_the_notes_say_how_latency_and_stuck_are_measured_and_where_thresholds_are_set(failing, signed_in):
    at = _open(signed_in)
    said = texts(at)
    assert "completed_at minus created_at" in said
    assert "p50/p95 are exact" in said
    assert "A job counts once the hour it was created in ended 15 minutes ago" in said
    assert "up to 75 minutes" in said
    [expander] = [e for e in at.expander if e.label == "Thresholds, and where to change them"]
    thresholds = expander.table[0].value
    assert "DASHBOARD_HEALTH_STUCK_MINUTES" in set(thresholds["Set with"])
    assert len(thresholds) == 9


def test_a_job_written_a_moment_ago_shows_on_the_next_click(failing, engine, signed_in):
    at = _open(signed_in)
    _jobs(engine, failing["healthy"], 30, status="failed")
    at.run()
    assert any(hostile.read(e.value).startswith("audio/stt routes to Whisper, failing") for e in at.error)


def test_a_service_error_is_shown_with_what_to_do(failing, signed_in, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise NotAllowed("Only admins can read the usage rollups")

    monkeypatch.setattr(HealthService, "report", refuse)
    at = _open(signed_in)
    assert [hostile.read(e.value) for e in at.error] == [
        "Only admins can read the usage rollups. Your role may have changed: ask an admin if you need this."
    ]
    assert not at.dataframe


def test_plain_users_are_not_given_the_page(failing, engine, signed_in):
    make_user(engine, "user", email="viewer@example.com")
    at = signed_in("viewer@example.com")
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")


def test_an_admin_whose_role_is_revoked_sees_nothing_on_the_next_click(failing, engine, signed_in):
    at = _open(signed_in)
    assert at.error
    with engine.begin() as conn:
        conn.execute(sa.text("delete from user_roles where user_id = :u"), {"u": user_id(engine, ADMIN)})
    at.run()
    assert not at.dataframe and not any("routes to" in hostile.read(e.value) for e in at.error)


# ─── The Overview's Health part ─────────────────────────────────────────────────────────────────
def _overview_health(at) -> list[str]:
    return [hostile.read(e.value) for e in [*at.error, *at.warning] if "routes to" in hostile.read(e.value)]


def test_the_overview_shows_the_five_worst_findings_and_links_to_the_page(empty_db, engine, signed_in):
    make_user(engine, "admin", email=ADMIN)
    for n in range(7):  # seven slots, each routing to a model that fails: seven findings
        model = make_model(engine, display_name=f"{HOSTILE} {n}", task=f"task-{n}", is_default=True)
        _jobs(engine, model, 20, status="failed")
        _jobs(engine, model, 3 * (6 - n), status="completed")  # task-6 fails 100%, task-0 53%
    at = _open(signed_in, page=OVERVIEW)
    shown = _overview_health(at)
    assert len(shown) == 5
    assert [s.split(" routes")[0] for s in shown] == [f"image/task-{n}" for n in (6, 5, 4, 3, 2)]  # worst first
    assert all(hostile.markdown_problems(e.value) == [] for e in at.error)
    links = [(e.proto.label, e.proto.page) for e in at.get("page_link")]
    assert ("See all 7 findings on Health", "health") in links


def test_a_healthy_overview_says_so_quietly(failing, engine, signed_in):
    with engine.begin() as conn:
        conn.execute(sa.text("delete from jobs"))
    at = _open(signed_in, page=OVERVIEW)
    assert not _overview_health(at)
    assert "Nothing needs attention in the last hour" in texts(at)
    assert ("Open Health", "health") in [(e.proto.label, e.proto.page) for e in at.get("page_link")]


def test_the_demos_overview_still_reads_health(demo_db, signed_in):
    at = signed_in(page=OVERVIEW)
    assert not at.exception, at.exception
    assert "Health" in [s.value for s in at.subheader]
    assert md_escape("text/summarization has no active model: its jobs cannot be routed") in [e.value for e in at.error]


def test_a_slow_model_is_a_warning_and_its_p95_is_the_bucket_edge_of_sql(empty_db, engine, signed_in):
    make_user(engine, "admin", email=ADMIN)
    model = make_model(engine, display_name=hostile.CR_FORMULA, is_default=True)
    _jobs(engine, model, 30, status="completed", ago=timedelta(days=2), seconds=10)  # the baseline
    _jobs(engine, model, 24, status="completed", seconds=40)
    _jobs(engine, model, 6, status="completed", seconds=3)
    at = _open(signed_in)
    [warning] = [hostile.read(w.value) for w in at.warning]
    assert warning.startswith(f"p95 latency of {visible(hostile.CR_FORMULA)} ")
    assert not at.error
    with engine.connect() as conn:  # the durations themselves, as SQL over the jobs table has them
        p50, p95 = conn.execute(
            sa.text(
                "select percentile_disc(array[0.5, 0.95]) within group "
                "(order by extract(epoch from completed_at - created_at)) from jobs "
                "where api_model_id = :m and created_at >= date_trunc('hour', now(), 'UTC') - interval '1 hour'"
            ),
            {"m": model},
        ).scalar_one()
    [row] = [r for _, r in next(d.value for d in at.dataframe if "Slot" in d.value.columns).iterrows()]
    assert row["p50 (s)"] == latency.EDGES[latency.bucket_of(float(p50))]
    assert row["p95 (s)"] == latency.EDGES[latency.bucket_of(float(p95))]
    assert row["Baseline p95 (s)"] == latency.EDGES[latency.bucket_of(10.0)]


def _report(basis: str | None) -> HealthReport:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return HealthReport("1h", moment, moment, moment, moment, basis, latency.PRECISION, [], [], HealthThresholds())


def test_the_latency_note_names_its_basis_and_what_replaces_completed_at():
    assert "completed_at minus created_at" in health_view.latency_note(_report("completed_at"))
    without = health_view.latency_note(_report("status_change"))
    assert "has no completed_at column" in without and "status became completed" in without
    assert "jobs written already completed have no latency" in without
    assert "to within 19%" in without
    assert "not captured" in health_view.latency_note(_report(None))
    assert "up to 75 minutes" in health_view.stuck_note(15) and "up to 120 minutes" in health_view.stuck_note(60)


def test_the_table_shows_the_first_hundred_models_and_the_csv_has_them_all(empty_db, engine, signed_in, downloads):
    from tests.app.test_usage_page import _served

    make_user(engine, "admin", email=ADMIN)
    provider = make_provider(engine)
    with engine.begin() as conn:  # 150 models of one slot, each with one job now; names that attack a spreadsheet
        conn.execute(
            sa.text(
                "insert into api_models (provider_id, model_key, display_name, modality, task, priority) "
                "select :p, 'k/' || n, :name || n, 'image', 'generation', n from generate_series(1, 150) n"
            ),
            {"p": provider, "name": hostile.HYPERLINK},
        )
        conn.execute(sa.text("insert into jobs (api_model_id, status) select id, 'completed' from api_models"))
        conn.execute(  # the last five (no pick: the pick is priority 1) are the busiest
            sa.text(
                "insert into jobs (api_model_id, status) select id, 'completed' from api_models, generate_series(1, 3) "
                "where priority > 145"
            )
        )
    at = _open(signed_in)
    [table] = [d.value for d in at.dataframe if "Slot" in d.value.columns]
    assert len(table) == 100
    assert "100 of 150 models: those needing attention first, then each slot's pick and the busiest" in texts(at)
    assert {f"{hostile.HYPERLINK}{n}" for n in (1, 146, 147, 148, 149, 150)} <= set(table["Model"])
    _, data = _served(at, downloads)["Export CSV"]
    assert hostile.csv_problems(data) == []
    rows = hostile.csv_rows(data)
    assert all(r["model"].startswith("'=") for r in rows)  # guarded: a spreadsheet shows it as text
    assert {unguard(r["model"]) for r in rows} == {f"{hostile.HYPERLINK}{n}" for n in range(1, 151)}
    assert sum(r["routed"] == "true" for r in rows) == 1


def test_the_page_works_on_every_live_project_shape(live_admin, request):  # noqa: F811 (the fixture)
    """A platform's own jobs table: an enum status, no updated_at, no rating, no completed_at (then it says so)."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["_dashboard_user_id"] = live_admin
    at.session_state["_dashboard_last_seen"] = time.time()
    at.run()
    at.switch_page(f"../../{PAGE}").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Health"]
    said = texts(at)
    shape = request.node.callspec.id
    if shape == "no-rating-two-defaults":
        assert "The jobs table has no completed_at column" in said
    else:
        assert "Latency is completed_at minus created_at" in said
    [table] = [d.value for d in at.dataframe if "Slot" in d.value.columns]
    assert "Live SDXL" in set(table["Model"]) or "Live Flux" in set(table["Model"])


def test_an_admin_viewing_as_a_plain_user_is_not_given_the_page(failing, signed_in):
    at = _open(signed_in)
    at.toggle(key="view_as_user").set_value(True).run()
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")
