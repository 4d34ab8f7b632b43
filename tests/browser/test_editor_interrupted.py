"""The model editor in a real Chromium when the person types before the form has finished drawing.

The server (with a test-only sitecustomize on PYTHONPATH) pauses every editor run right after Display name, so
Display name is on screen seconds before the rest of the form: the window in which a fast typist used to save a
model with its undrawn fields at their widget defaults (JSON emptied, moved to the first provider and slot).
"""

from __future__ import annotations

import os
import textwrap

import pytest
import sqlalchemy as sa

from dashboard.demo import seed_demo
from dashboard.demo.catalogue import SDXL_ID
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, dashboard_run, require_chromium, serving, wait_idle
from tests.conftest import REPO

pytestmark = pytest.mark.browser

SLOW_DRAW = textwrap.dedent('''
    """Test-only, loaded by the app server: each editor run pauses right after drawing Display name."""
    import os
    import time

    from streamlit.elements.widgets.text_widgets import TextWidgetsMixin

    _text_input = TextWidgetsMixin.text_input

    def text_input(self, label, *args, **kwargs):
        if kwargs.get("key") == "ed_model_key":
            time.sleep(float(os.environ.get("SLOW_DRAW_SECONDS", "3")))
        return _text_input(self, label, *args, **kwargs)

    TextWidgetsMixin.text_input = text_input
''')
COLUMNS = "provider_id, modality, task, priority, is_default, is_active, input_defaults, capabilities, pricing"


@pytest.fixture
def slow_server(db_url, engine, tmp_path):
    require_chromium()
    demo = seed_demo(engine, jobs=50, bcrypt_rounds=4)
    (tmp_path / "sitecustomize.py").write_text(SLOW_DRAW)
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    with serving(dashboard_run, env) as url:
        yield url, demo.passwords


def _row(engine):
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.text(f"select display_name, {COLUMNS} from api_models where id = :i"), {"i": SDXL_ID})
            .one()
            ._mapping
        )


def test_typing_before_the_form_is_drawn_saves_only_what_was_typed(slow_server, engine, tmp_path):
    from playwright.sync_api import sync_playwright

    url, passwords = slow_server
    before = _row(engine)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        try:
            page.goto(f"{url}/model_editor?id={SDXL_ID}")  # a deep link, signed in on arrival
            wait_idle(page)
            page.get_by_label("Email").fill("admin@example.com")
            page.get_by_role("textbox", name="Password").fill(passwords["admin@example.com"])
            page.get_by_role("button", name="Sign in").click()
            wait_idle(page)
            priority = page.get_by_role("spinbutton", name="Priority")
            priority.fill("5")
            priority.press("Tab")
            wait_idle(page)
            page.get_by_role("button", name="Save", exact=True).click()
            # The saved model opens again: as soon as that run has drawn Display name (the flash comes just
            # before it), and while it pauses before the rest of the form, type a new name and leave the field.
            page.get_by_text("Saved SDXL 1.0.").wait_for(timeout=30_000)
            name = page.get_by_role("textbox", name="Display name")
            name.fill("SDXL typed early")
            name.press("Tab")
            wait_idle(page)
            page.get_by_role("button", name="Save", exact=True).click()
            wait_idle(page)
            assert page.get_by_text("Saved SDXL typed early.").is_visible()
        finally:
            page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
            browser.close()
    assert _row(engine) == {**before, "priority": 5, "display_name": "SDXL typed early"}
