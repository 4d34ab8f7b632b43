"""Every query parameter of every page is parsed into a valid value or left out with a note: a property-style
run feeds each page random and extreme values for the parameters it reads (and ones it does not)."""

from __future__ import annotations

import random

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
