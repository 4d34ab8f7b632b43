"""The Overview page: the catalogue's numbers and the slots that need an admin, with a way to act on each."""

from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from dashboard.text import md_escape
from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_model, make_provider, make_user

PAGE = "pages/overview.py"
HOSTILE = f"{hostile.LINK} {hostile.HTML} {hostile.URL}"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _links(at) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(label, url path, query) of every page link on the page."""
    return [(e.proto.label, e.proto.page, parse_qs(e.proto.query_string)) for e in at.get("page_link")]


def _recent_jobs(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select count(*), count(*) filter (where status = 'failed'), "
                "count(*) filter (where status in ('completed', 'failed')) "
                "from jobs where created_at >= date_trunc('day', now(), 'UTC') - interval '29 days'"
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
