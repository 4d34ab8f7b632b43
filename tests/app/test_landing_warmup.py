"""The server's reads while an admin reads the Overview (dashboard/ui/landing_warmup.py): what the first Usage click
and the first editor open need is read in the background, once per reader and catalogue version, as the admin, and
the pages then find it kept and show what they would have shown anyway."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.queries import usage as usage_queries
from dashboard.services import ModelService, auth, usage_folding, usage_past, usage_spans
from dashboard.ui import context, kept_reads, landing_warmup
from tests.app.conftest import user_id

OVERVIEW, USAGE, EDITOR = "pages/overview.py", "pages/usage.py", "pages/model_editor.py"


@pytest.fixture
def warmup(monkeypatch):
    monkeypatch.setattr(landing_warmup, "ENABLED", True)
    monkeypatch.setattr(landing_warmup, "_started", type(landing_warmup._started)())
    usage_past.forget()
    usage_spans.forget()
    kept_reads.clear()
    yield
    landing_warmup.settle()
    usage_past.forget()
    usage_spans.forget()


def _health_copies() -> int:
    """The past hours and days Health keeps copies of, over every database."""
    usage_spans.settle()
    return sum(len(store.pieces) for store in usage_spans._STORES.values())


def _health_section(at) -> list[str]:
    return [c.value for c in at.caption if "needs attention" in c.value] + [e.value for e in [*at.error, *at.warning]]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_an_admins_landing_reads_the_usage_pages_first_view_which_then_reads_only_today(
    demo_db, engine, signed_in, warmup
):
    at = signed_in(page=OVERVIEW)
    assert not at.exception
    landing_warmup.settle()
    kept = dict(usage_past._kept)
    assert {key[0] for key in kept} == {"counts", "days"}
    at.switch_page(f"../../{USAGE}").run()
    assert not at.exception
    assert dict(usage_past._kept) == kept and all(usage_past._kept[k] is kept[k] for k in kept)  # served, not re-read
    shown = _metrics(at)
    usage_past.forget()
    kept_reads.clear()
    cold = signed_in(page=USAGE)  # the same page read from nothing
    assert _metrics(cold) == shown


def test_once_per_reader_and_catalogue_version(demo_db, engine, signed_in, warmup):
    signed_in(page=OVERVIEW)
    signed_in(page=OVERVIEW).run()
    landing_warmup.settle()
    assert len(landing_warmup._started) == 1
    admin = user_id(engine, "admin@example.com")
    service = ModelService(engine, user_id=admin)
    model = service.list_active_models()[0]
    service.update(model["id"], {"priority": model["priority"] + 1})  # a new catalogue version
    signed_in(page=OVERVIEW)
    landing_warmup.settle()
    assert len(landing_warmup._started) == 2


def test_off_unless_the_web_server_turns_it_on(demo_db, signed_in):
    before = dict(landing_warmup._started)
    signed_in(page=OVERVIEW)
    assert landing_warmup._started == before


def test_nobody_but_an_admin_starts_it(demo_db, engine, signed_in, warmup):
    at = signed_in("viewer@example.com")  # lands on Models: the Overview is not even in a user's menu
    assert not at.exception
    assert not landing_warmup._started


def test_a_read_that_fails_leaves_the_others_and_the_page_alone(demo_db, signed_in, warmup, monkeypatch):
    done = []

    def fails() -> None:
        raise RuntimeError("the connection was lost")

    monkeypatch.setattr(landing_warmup, "READS", (fails, lambda: done.append(True)))
    at = signed_in(page=OVERVIEW)
    landing_warmup.settle()
    assert not at.exception and done == [True]
    at.switch_page(f"../../{EDITOR}").run()
    assert not at.exception


def test_a_processs_first_page_reads_the_overviews_past_as_the_service_role_once(demo_db, engine, signed_in, warmup):
    """The sign-in form (nobody signed in) starts it; the Overview's job figures then read only today, and are what
    they would have been read from nothing."""
    at = signed_in(None)
    assert not at.exception and at.button  # the sign-in form
    landing_warmup.settle()
    kept = dict(usage_past._kept)
    assert [key[0] for key in kept] == ["counts"]
    signed_in(None)
    assert len([key for key in landing_warmup._started if key[0] == "process"]) == 1
    overview = signed_in(page=OVERVIEW)
    assert all(usage_past._kept[k] is kept[k] for k in kept)  # served, not read again
    shown = _metrics(overview)
    usage_past.forget()
    assert _metrics(signed_in(page=OVERVIEW)) == shown


def test_a_processs_first_page_keeps_healths_past_for_the_overviews_report(demo_db, engine, signed_in, warmup):
    """Health's past hours and days are read as the service role with the rest: the Overview's first report reads only
    the current hour and the deltas, and says what it would have said read from nothing."""
    signed_in(None)
    landing_warmup.settle()
    assert _health_copies() > 0  # the window's closed hours and the baseline's days
    kept = {k: v for store in usage_spans._STORES.values() for k, v in store.pieces.items()}
    overview = signed_in(page=OVERVIEW)
    assert not overview.exception
    now = {k: v for store in usage_spans._STORES.values() for k, v in store.pieces.items()}
    assert all(now[k] is kept[k] for k in kept)  # served, not read again
    shown = _health_section(overview)
    usage_spans.forget()
    assert _health_section(signed_in(page=OVERVIEW)) == shown


def test_the_server_start_does_the_first_pages_reads_and_the_first_page_none(demo_db, engine, signed_in, warmup):
    landing_warmup.at_server_start()
    landing_warmup.settle()
    started = [key for key in landing_warmup._started if key[0] == "process"]
    assert len(started) == 1 and [key[0] for key in usage_past._kept] == ["counts"]
    signed_in(None)  # the sign-in form: nothing more is started
    assert [key for key in landing_warmup._started if key[0] == "process"] == started


def test_a_database_down_at_the_server_start_is_left_to_the_first_page(demo_db, signed_in, warmup, monkeypatch):
    def down(*args, **kwargs):
        raise sa.exc.OperationalError("connect", {}, OSError("Connection refused"))

    monkeypatch.setattr(context, "get_engine", down)
    landing_warmup.at_server_start()
    landing_warmup.settle()
    assert not [key for key in landing_warmup._started if key[0] == "process"]
    monkeypatch.undo()
    monkeypatch.setattr(landing_warmup, "ENABLED", True)
    signed_in(None)
    landing_warmup.settle()
    assert [key[0] for key in landing_warmup._started if key[0] == "process"] == ["process"]


def test_a_backlog_met_at_the_first_page_is_folded_and_its_past_read_again(
    demo_db, engine, signed_in, warmup, monkeypatch
):
    """After a time with no dashboard running, the first page's read of the past starts a background fold, which
    moves the versions of the days it folds into: the warmup waits for that fold and reads the past again, so the
    Overview's first run finds a copy of the folded rollups rather than reading them itself."""
    monkeypatch.setattr(usage_folding, "FOLD_ABOVE_BYTES", 0)  # any backlog is folded in the background
    with engine.begin() as conn:  # the platform's writes on past days, as its own code makes them
        conn.execute(
            sa.text("""
            insert into jobs (api_model_id, status, created_at, quality_rating)
            select id, s.status, now() - interval '3 days' - n * interval '7 minutes', r.rating
            from api_models, generate_series(1, 3) n,
                 (values ('completed'), ('failed'), ('queued')) s(status), (values (null::int), (5)) r(rating)
            where is_active
        """)
        )
    at = signed_in(None)
    assert not at.exception and at.button  # the sign-in form
    landing_warmup.settle()
    with engine.connect() as conn:
        assert conn.execute(usage_queries.PENDING).scalar_one() == 0  # folded
    kept = dict(usage_past._kept)
    assert [key[0] for key in kept] == ["counts"]
    assert _health_copies() == 0  # late already: left to the first report, not read beside the first sign-in
    overview = signed_in(page=OVERVIEW)
    assert all(usage_past._kept[k] is kept[k] for k in kept)  # served, not read again
    shown = _metrics(overview)
    usage_past.forget()
    assert _metrics(signed_in(page=OVERVIEW)) == shown


def test_a_processs_first_page_prepares_the_sign_in_check(demo_db, signed_in, warmup):
    """The accounts' hash cost is read and its dummy hash made before anyone signs in: the first sign-in of a
    process then checks a password as every later one does."""
    auth.dummy_hash.cache_clear()
    auth._hash_costs.clear()
    signed_in(None)
    landing_warmup.settle()
    assert len(auth._hash_costs) == 1
    assert auth.dummy_hash.cache_info().currsize == 1


def test_a_processs_first_page_reads_nothing_without_the_web_server(demo_db, signed_in):
    before = dict(landing_warmup._started)
    signed_in(None)
    assert landing_warmup._started == before
