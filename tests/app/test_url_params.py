"""Every query parameter of every page is parsed into a valid value or left out with a note: a property-style
run feeds each page random and extreme values for the parameters it reads (and ones it does not)."""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest

from tests.app.conftest import texts
from tests.hostile import URL_VALUES

# The parameters each page reads from its URL (the Models page's filters, the Usage page's range, ...).
PAGES = {
    "pages/overview.py": [],
    "pages/models.py": ["q", "modality", "task", "provider", "status", "default", "sort"],
    "pages/model_editor.py": ["id", "new", "from"],
    "pages/defaults.py": ["slot"],
    "pages/providers.py": [],
    "pages/routing.py": ["modality", "task"],
    "pages/usage.py": ["range", "from", "to", "provider", "modality", "task", "model", "active", "group"],
    "pages/history.py": ["table", "model", "person"],
    "pages/health.py": ["window"],
    "pages/transfer.py": [],
}
RANGE_VALUES = ("custom", "24h", "7d", "all")


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_survives_random_and_extreme_query_parameters(demo_db, signed_in, page):
    rng = random.Random(page)
    for round_ in range(4):
        names = [*PAGES[page], "junk", "p"]
        query = {name: rng.choice(URL_VALUES) for name in rng.sample(names, k=min(len(names), rng.randint(1, 5)))}
        if "range" in PAGES[page]:
            query["range"] = rng.choice(RANGE_VALUES)
        query = {k: v.replace("\x00", "") for k, v in query.items()}  # a URL cannot carry NUL to the app
        at = signed_in(page=page, **query)
        assert not at.exception, (page, round_, query, at.exception)
        assert "cannot be reached" not in texts(at), (page, query)


def test_the_crafted_usage_range_of_the_attack_is_left_out_with_a_note(demo_db, signed_in):
    at = signed_in(page="pages/usage.py", range="custom", **{"from": "0001-01-01", "to": "9999-12-31"})
    assert not at.exception
    toasts = " ".join(t.value for t in at.toast)
    assert "from=0001\\-01\\-01" in toasts or "from=0001-01-01" in toasts.replace("\\", "")
    assert at.date_input(key="u_days").value  # a valid range the picker accepts instead


@pytest.mark.parametrize("page", list(PAGES))
def test_a_page_opened_without_parameters_notes_nothing(demo_db, signed_in, page):
    """Only a value the link really carried is ever called left out (the defaults are not)."""
    at = signed_in(page=page)
    assert not at.exception
    assert [t.value for t in at.toast] == []


# ─── Parameters never follow the person to another page or reach another account ─────────────────
def test_opening_another_page_drops_the_parameters_it_does_not_read(demo_db, signed_in):
    at = signed_in(page="pages/usage.py", range="7d", group="provider", model="x", junk="1")
    at.switch_page("../../pages/models.py").run()
    assert not at.exception
    assert not {"range", "group", "model", "junk"} & set(at.query_params)
    at = signed_in(page="pages/models.py", q="flux", sort="name")
    at.switch_page("../../pages/history.py").run()
    assert not {"q", "sort"} & set(at.query_params)


def test_a_page_keeps_its_own_parameters_and_a_link_gives_them(demo_db, signed_in):
    at = signed_in(page="pages/models.py", modality="video")
    at.run()
    assert at.query_params.get("modality") in ("video", ["video"])
    at.query_params.update({"range": "all", "junk": "1"})  # what a link to Usage carries
    at.switch_page("../../pages/usage.py").run()
    assert at.query_params.get("range") in ("all", ["all"]) and "junk" not in at.query_params


def test_signing_out_clears_the_url(demo_db, signed_in):
    at = signed_in(page="pages/usage.py", range="7d", model="x", **{"from": "2020-01-01"})
    at.button(key="sign_out").click().run()
    assert not at.exception
    assert dict(at.query_params) == {}


def _deep_link(engine, email: str, path: str, **query: str):
    """A signed-in person opens a typed or bookmarked URL (st.context.url is the browser's, without the query)."""
    import time

    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import APP, user_id

    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["_dashboard_user_id"] = user_id(engine, email)
    at.session_state["_dashboard_last_seen"] = time.time()
    at.context = {"url": f"http://localhost:8501{path}"}
    at.query_params.update(query)
    return at.run()


@pytest.mark.parametrize("path", ["/providers", "/usage", "/model_editor", "/sessions", "/base/path/history/"])
def test_a_plain_users_link_to_an_admin_page_says_it_is_for_admins_only(demo_db, engine, path):
    at = _deep_link(engine, "viewer@example.com", path, range="7d", provider="x", modality="audio")
    assert not at.exception, at.exception
    assert "is for admins only" in texts(at)
    assert dict(at.query_params) == {}  # that page's parameters do not reach the page the person goes to next
    assert not at.dataframe and not [b for b in at.button if b.label in ("Save", "New model")]


def test_an_admins_link_and_a_plain_users_link_to_their_own_page_open_it(demo_db, engine):
    at = _deep_link(engine, "admin@example.com", "/providers")
    assert "is for admins only" not in texts(at) and at.title[0].value == "Overview"  # AppTest lands on the first
    at = _deep_link(engine, "viewer@example.com", "/defaults")
    assert "is for admins only" not in texts(at) and not at.exception


@pytest.mark.parametrize("value", [v for v in URL_VALUES if "\x00" not in v])
def test_hostile_paths_are_just_unknown_pages(demo_db, engine, value):
    at = _deep_link(engine, "viewer@example.com", "/" + quote(value, safe="/"))
    assert not at.exception, at.exception
    assert "is for admins only" not in texts(at)
