"""Issue 16 in a real browser: the Import tab stays open after applying, and a second restore's confirmation in
History stays in view after the first restore moved every entry down."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser.conftest import go_to, sign_in, wait_idle
from tests.hostile import HTML

pytestmark = pytest.mark.browser


def test_the_import_tab_stays_open_after_applying(browser_page, app_server, engine):
    page = browser_page
    sign_in(page, app_server, "admin@example.com")
    go_to(page, "Import and export")
    page.get_by_role("tab", name="Import").click()
    wait_idle(page)
    page.get_by_role("textbox", name="Or paste the file's contents").fill(
        f"provider,model_key,display_name,modality,task\nreplicate,acme/one,{HTML},image,generation\n"
    )
    page.keyboard.press("Control+Enter")
    wait_idle(page)
    page.get_by_role("button", name="Apply 1 change").click()
    wait_idle(page)
    page.get_by_role("button", name="Apply", exact=True).click()
    wait_idle(page)
    # expect() waits for what a loaded machine may draw a moment after the run that applied: the page after the
    # import is a second run (st.rerun), and CI once saw its message drawn before its text box.
    expect(page.get_by_text("Imported: 1 new and 0 changed models.")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("tab", name="Import")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("textbox", name="Or paste the file's contents")).to_be_visible(timeout=15_000)
    with engine.connect() as conn:
        added = conn.execute(sa.text("select display_name from api_models where model_key = 'acme/one'")).scalar()
    assert added == HTML


def test_a_second_restore_keeps_its_confirmation_in_view(browser_page, app_server, engine):
    with engine.begin() as conn:  # two changes to one model, as SQL: two entries that can each be restored
        conn.execute(sa.text("update api_models set priority = 8 where display_name = 'SDXL 1.0'"))
        conn.execute(sa.text("update api_models set model_family = :f where display_name = 'SDXL 1.0'"), {"f": HTML})
        sdxl = conn.execute(sa.text("select id from api_models where display_name = 'SDXL 1.0'")).scalar_one()
    page = browser_page
    sign_in(page, app_server, "admin@example.com", path=f"/history?model={sdxl}")
    restores = page.get_by_role("button", name="Restore the version before this")
    page.get_by_test_id("stExpander").nth(0).locator("summary").click()
    wait_idle(page)
    restores.first.click()
    wait_idle(page)
    page.get_by_role("button", name="Restore", exact=True).click()
    wait_idle(page)
    expect(page.get_by_text("History records it as restored from entry")).to_be_visible(timeout=15_000)
    # Every entry moved down one place; open the older change (now the third entry) and ask to restore it.
    page.get_by_test_id("stExpander").nth(2).locator("summary").click()
    wait_idle(page)
    page.get_by_test_id("stExpander").nth(2).get_by_role("button", name="Restore the version before this").click()
    wait_idle(page)
    confirm = page.get_by_role("button", name="Restore", exact=True)
    expect(confirm).to_be_visible(timeout=15_000)  # the entry stayed open: its confirmation is in view
    confirm.click()
    wait_idle(page)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select priority from api_models where id = :i"), {"i": sdxl}).scalar() == 1


@pytest.mark.parametrize(
    ("email", "path", "heading"),
    [
        ("viewer@example.com", "/models?q=flux", "Models"),  # an admin's link to Models, opened by a plain user
        ("admin@example.com", "/overview", "Overview"),
        ("admin@example.com", "/models?q=flux", "Models"),
        ("viewer@example.com", "/", "Models"),
    ],
)
def test_every_page_has_an_address_that_works_for_every_role(browser_page, app_server, email, path, heading):
    """The first page a person may see is drawn at the root and at its own address too: no "Page not found"."""
    page = browser_page
    sign_in(page, app_server, email, path=path)
    expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=15_000)
    assert page.get_by_text("Page not found").count() == 0
    if "q=flux" in path:
        assert "q=flux" in page.url  # the link's search is kept
        expect(page.get_by_text(re.compile(r"of \d+ models?"))).to_be_visible()
    page.reload()
    wait_idle(page)
    expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=15_000)
    assert page.get_by_text("Page not found").count() == 0
