"""The Overview page: the catalogue's numbers and the slots that need an admin, with a way to act on each."""

from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from dashboard.text import md_escape
from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_model, make_provider, make_user
from tests.hostile import read

PAGE = "pages/overview.py"
HOSTILE = f"{hostile.LINK} {hostile.HTML} {hostile.URL}"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _links(at) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(label, url path, query) of every page link on the page."""
    return [(e.proto.label, e.proto.page, parse_qs(e.proto.query_string)) for e in at.get("page_link")]


def _recent_jobs(engine, *, with_model: bool = False) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select count(*), count(*) filter (where status = 'failed'), "
                "count(*) filter (where status in ('completed', 'failed')) "
                "from jobs where created_at >= date_trunc('day', now(), 'UTC') - interval '29 days'"
                + (" and api_model_id in (select id from api_models)" if with_model else "")
            )
        ).one()


def test_an_admin_sees_the_catalogues_numbers(demo_db, engine, signed_in):
    at = signed_in(page=PAGE)
    assert not at.exception
    assert at.title[0].value == "Overview"
    jobs, failed, finished = _recent_jobs(engine)
    assert _metrics(at) == {
        "Active models (of 32)": "28",
        "Active providers (of 6)": "5",
        "Defaults (of 13 slots)": "11",
        "Jobs (30 days)": f"{jobs:,}",
        "Failure rate (30 days)": f"{failed / finished:.1%}" if finished else "—",
    }


def test_the_job_figures_count_the_models_jobs_only(demo_db, engine, signed_in):
    """Jobs written in SQL as the platform writes them, one of a model named in markup and one with no model: the
    figures are the jobs of the models, as the seed's query counts them."""
    model = make_model(engine, make_provider(engine), display_name=hostile.SCRIPT)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status) values (:m, 'failed'), (:m, 'completed'), (null, 'failed')"
            ),
            {"m": model},
        )
    at = signed_in(page=PAGE)
    jobs, failed, finished = _recent_jobs(engine, with_model=True)
    assert _metrics(at)["Jobs (30 days)"] == f"{jobs:,}"
    assert _metrics(at)["Failure rate (30 days)"] == f"{failed / finished:.1%}"


def test_the_job_figures_are_the_same_with_the_usage_catalogue_kept_or_not(demo_db, engine, signed_in, monkeypatch):
    """A first Overview counts the models from the ids its count reads, without reading the Usage page's whole
    catalogue; with that catalogue kept (the Usage page was opened), it counts from it. Same figures either way,
    jobs of a model written in SQL with a hostile name included."""
    from dashboard.services.usage import UsageService
    from dashboard.ui import kept_reads, usage_report

    model = make_model(engine, make_provider(engine), display_name=HOSTILE)
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into jobs (api_model_id, status) values (:m, 'failed'), (:m, 'completed')"), {"m": model}
        )
    read = UsageService.catalogue
    wholes = []
    monkeypatch.setattr(UsageService, "catalogue", lambda self: wholes.append(self.user_id) or read(self))
    kept_reads.clear()
    usage_report._recent_jobs.clear()
    first = _metrics(signed_in(page=PAGE))
    assert wholes == []  # the Usage catalogue was not read for it
    signed_in(page="pages/usage.py")  # keeps it
    assert len(wholes) == 1
    usage_report._recent_jobs.clear()
    assert _metrics(signed_in(page=PAGE)) == first and len(wholes) == 1  # counted from the kept one
    jobs, failed, finished = _recent_jobs(engine, with_model=True)
    assert first["Jobs (30 days)"] == f"{jobs:,}" and first["Failure rate (30 days)"] == f"{failed / finished:.1%}"


def test_the_demos_gaps_need_attention_errors_first(demo_db, signed_in):
    at = signed_in(page=PAGE)
    assert [e.value for e in at.error] == [
        md_escape("text/summarization has no active model: its jobs cannot be routed")
    ]
    assert [w.value for w in at.warning] == [md_escape("image/background-removal has 2 active model(s) but no default")]
    assert not at.success


def test_each_warning_links_to_where_it_can_be_fixed(demo_db, signed_in):
    links = _links(signed_in(page=PAGE))
    assert ("Its models", "models", {"modality": ["text"], "task": ["summarization"]}) in links
    assert ("Its models", "models", {"modality": ["image"], "task": ["background-removal"]}) in links
    assert ("Choose a default", "defaults", {"slot": ["image/background-removal"]}) in links
    # text/summarization has no active model: there is nothing to choose a default from
    assert ("Choose a default", "defaults", {"slot": ["text/summarization"]}) not in links


def test_no_warning_when_every_slot_is_served(empty_db, engine, signed_in):
    make_user(engine, "admin", email="solo@example.com")
    make_model(engine, display_name="Only model", is_default=True)
    at = signed_in("solo@example.com", page=PAGE)
    assert not at.exception
    assert not at.error and not at.warning
    assert "Every slot has an active default" in texts(at)


def test_an_empty_catalogue_says_so_and_points_to_the_models_page(empty_db, engine, signed_in):
    make_user(engine, "admin", email="solo@example.com")
    at = signed_in("solo@example.com", page=PAGE)
    assert not at.exception
    assert _metrics(at) == {
        "Active models (of 0)": "0",
        "Active providers (of 0)": "0",
        "Defaults (of 0 slots)": "0",
        "Jobs (30 days)": "0",
        "Failure rate (30 days)": "—",
    }
    assert "There are no models yet" in texts(at)
    assert ("Go to Models", "models", {}) in _links(at)


def test_names_from_the_database_are_shown_literally(empty_db, engine, signed_in):
    make_user(engine, "admin", email="solo@example.com")
    make_model(
        engine, make_provider(engine, is_active=False, display_name=HOSTILE), display_name=HOSTILE, is_default=True
    )
    at = signed_in("solo@example.com", page=PAGE)
    assert not at.exception
    [warning] = [w.value for w in at.warning]
    assert warning == md_escape(f"The default for image/generation, {HOSTILE}, is on an inactive provider, {HOSTILE}")
    assert hostile.markdown_problems(warning) == []


def test_a_plain_user_is_not_given_the_overview(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    assert not at.exception
    assert not at.metric
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")  # as the signed_in fixture addresses pages


def test_a_default_routing_passes_over_is_named_on_the_overview(demo_db, engine, signed_in):
    """Making a priority-2 model the default leaves the priority-1 one picked: the Overview says so (it used to
    stay silent while the Routing preview said it)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("update api_models set is_default = false where modality = 'image' and task = 'generation'")
        )
        conn.execute(sa.text("update api_models set is_default = true where display_name = 'Flux Schnell'"))
    at = signed_in(page=PAGE)
    assert not at.exception
    assert (
        "Routing does not pick the default for image/generation, Flux Schnell: SDXL 1.0 comes first "
        "(a lower priority number, 1 < 3)"
    ) in texts(at)


NOTE = "Why the first click after a change takes longer"


def _note(at) -> str | None:
    """The per-row policy note's text, when its expander is on the page (folded away)."""
    [expander] = [e for e in at.expander if e.label == NOTE] or [None]
    if expander is None:
        return None
    assert not expander.proto.expanded
    return read(expander.caption[0].value)


def test_a_policy_checked_once_per_row_is_explained_folded_away(demo_db, signed_in):
    """The seed's own "Admins can manage models" calls has_role(auth.uid(), ...) per row: kept, and explained."""
    note = _note(signed_in(page=PAGE))
    assert note is not None
    assert 'The api_models policy "Admins can manage models" calls auth.uid() or has_role()' in note
    assert "reading all 32 models makes 32 calls instead of one" in note
    assert '"Auth RLS Initialization Plan" (auth_rls_initplan)' in note
    assert "shares each read among the people of one role" in note


def test_no_note_where_the_policy_checks_once_per_query(demo_db, engine, signed_in):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                'alter policy "Admins can manage models" on api_models '
                "using ((select has_role((select auth.uid()), 'admin'::app_role)))"
            )
        )
    at = signed_in(page=PAGE)
    assert not at.exception
    assert _note(at) is None


def test_a_policys_name_is_shown_literally_in_the_note(demo_db, engine, signed_in):
    with engine.begin() as conn:
        conn.execute(sa.text("select set_config('dashboard_test.name', :name, true)"), {"name": hostile.LINK})
        conn.execute(
            sa.text(
                "do $$ begin execute format('alter policy %I on api_models rename to %I', "
                "'Admins can manage models', current_setting('dashboard_test.name')); end $$"
            )
        )
    at = signed_in(page=PAGE)
    caption = [e for e in at.expander if e.label == NOTE][0].caption[0].value
    assert hostile.markdown_problems(caption) == []
    assert f'policy "{hostile.LINK}" calls' in read(caption)


def test_a_long_list_of_slots_needing_attention_shows_the_first_and_lists_the_rest_in_one_element(
    empty_db, engine, signed_in
):
    """Each slot drawn as an alert with two links is seven elements for the browser to draw: 25 of them were 200 ms
    of a new tab at 10,000 models. The first few are drawn so; the rest are one list, folded away."""
    make_user(engine, "admin", email="solo@example.com")
    provider = make_provider(engine)
    for n in range(30):
        make_model(engine, provider, task=f"task-{n:02} {hostile.LINK}", display_name=f"{hostile.HTML} {n}")
    at = signed_in("solo@example.com", page=PAGE)
    assert not at.exception
    assert len(at.warning) == 5
    assert hostile.markdown_problems(at.warning[0].value) == []
    (rest,) = [e for e in at.expander if e.label == "25 more slots need attention"]
    (listed,) = rest.text  # plain text, drawn as it is: nothing in it can form a link or a heading
    lines = listed.value.splitlines()
    assert len(lines) == 25 and all(line.startswith("• ") for line in lines)
    assert f"task-29 {hostile.LINK}" in listed.value
    assert ("Go to Defaults", "defaults", {}) in _links(at)
    assert len(_links(at)) <= 2 * 5 + 2  # two links a drawn slot, Defaults and Health


def test_a_health_report_that_cannot_be_read_says_why_and_the_rest_of_the_page_stands(demo_db, signed_in, monkeypatch):
    """The report is read in a thread beside the job figures; what it refuses with is shown in the page's run, in
    the Health part, as the Health page shows it."""
    from dashboard.services.errors import NotAllowed
    from dashboard.services.health import HealthService
    from dashboard.ui.feedback import describe_error

    refusal = NotAllowed(f"Refused for {hostile.LINK}")

    def refused(*args, **kwargs):
        raise refusal

    monkeypatch.setattr(HealthService, "report", refused)
    at = signed_in(page=PAGE)
    assert not at.exception, at.exception
    assert md_escape(describe_error(refusal)) in [e.value for e in at.error]
    assert _metrics(at)["Active models (of 32)"] == "28"
    assert "Health" in [h.value for h in at.subheader]


def test_a_connection_lost_in_the_health_read_shows_the_databases_banner(demo_db, signed_in, monkeypatch):
    """What else the thread's read raises is raised in the page's run: a lost connection is the app's banner with a
    retry, never a traceback, as for any other read."""
    from dashboard.services.health import HealthService

    def lost(*args, **kwargs):
        raise sa.exc.OperationalError("select 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(HealthService, "report", lost)
    at = signed_in(page=PAGE)
    assert not at.exception, at.exception
    assert "The database cannot be reached right now" in texts(at)
    assert [b for b in at.button if b.key == "retry_database"]
