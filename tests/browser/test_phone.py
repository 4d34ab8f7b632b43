"""Daily use on a phone: Chromium at 390 × 844 px (an iPhone 12-15's viewport) against `python -m dashboard run`."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import chromium_page, go_to, sign_in, wait_idle
from tests.factories import level_with_the_pick
from tests.hostile import LINK

pytestmark = pytest.mark.browser
WIDTH, HEIGHT = 390, 844
TOLERANCE = 2  # px: rounding of fractional layout widths
# A phone's browser: Streamlit tells phones by their user agent (it closes the sidebar after a page is chosen there).
PHONE_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Mobile Safari/537.36"
)


@pytest.fixture
def phone(app_server, tmp_path):
    options = {
        "viewport": {"width": WIDTH, "height": HEIGHT},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
        "user_agent": PHONE_AGENT,
    }
    with chromium_page(tmp_path / "phone.png", **options) as page:
        yield page


def overflow(page) -> int:
    """How many pixels the page is wider than the screen (0 when nothing sticks out sideways)."""
    return page.evaluate("document.documentElement.scrollWidth") - WIDTH


def sidebar_collapsed(page) -> bool:
    return page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true"


def open_sidebar(page) -> None:
    if sidebar_collapsed(page):
        page.get_by_test_id("stExpandSidebarButton").click()
        page.wait_for_timeout(500)


@pytest.mark.parametrize("email", ["admin@example.com", "viewer@example.com"])
def test_no_page_is_wider_than_the_phone(phone, app_server, email, tmp_path):
    sign_in(phone, app_server, email, path="/")
    assert overflow(phone) <= TOLERANCE
    pages = ["/defaults", f"/?q={LINK}" if email.startswith("viewer") else f"/models?q={LINK}"]
    if email.startswith("admin"):
        pages += ["/usage?range=7d", "/model_editor", "/overview", "/routing", "/history", "/providers"]
    for path in pages:
        phone.goto(app_server.url + path)
        wait_idle(phone)
        phone.screenshot(path=str(tmp_path / f"{path.strip('/').split('?')[0] or 'home'}.png"), full_page=True)
        assert phone.get_by_test_id("stException").count() == 0, path
        assert overflow(phone) <= TOLERANCE, (path, overflow(phone))


def test_the_sidebar_closes_after_choosing_a_page(phone, app_server):
    sign_in(phone, app_server, "admin@example.com", path="/models")
    open_sidebar(phone)
    assert not sidebar_collapsed(phone)
    go_to(phone, "Defaults")
    assert sidebar_collapsed(phone)  # Streamlit closes it on a phone, so the page chosen is in view
    assert phone.get_by_role("heading", name="Defaults").first.is_visible()


def test_the_usage_range_buttons_fit_the_screen(phone, app_server):
    sign_in(phone, app_server, "admin@example.com", path="/usage?range=7d")
    for name in ("24h", "7d", "30d", "90d", "All", "Custom"):
        box = phone.get_by_text(name, exact=True).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + TOLERANCE, (name, box)
    assert overflow(phone) <= TOLERANCE


def test_the_models_filters_fold_away_above_the_table(phone, app_server):
    sign_in(phone, app_server, "viewer@example.com", path="/")  # a plain user's Models page is the app's "/"
    filters = phone.get_by_test_id("stExpander").first
    table = phone.get_by_test_id("stDataFrame").first
    assert filters.bounding_box()["y"] < table.bounding_box()["y"]
    assert phone.get_by_role("textbox", name="Search").is_visible()
    filters.locator("summary").click()
    wait_idle(phone)
    assert not phone.get_by_role("textbox", name="Search").is_visible()  # folded: the table moves up
    assert overflow(phone) <= TOLERANCE


def test_a_reviews_traffic_table_fits_the_phone(phone, app_server, engine):
    """Making a default on a phone: the review's table of the traffic that would move is drawn, in the screen's
    width, with the confirmation under it."""
    level_with_the_pick(engine)  # Flux Schnell level with SDXL 1.0, the pick, so that as default it takes its jobs
    sign_in(phone, app_server, "admin@example.com", path="/defaults?slot=image/generation")
    option = phone.get_by_role("option", name=re.compile("^Flux Schnell"))
    for _ in range(3):  # on a phone, a list to tap (no typing); a rerun drawn meanwhile may close it: open it again
        phone.get_by_role("combobox", name="New default").click()
        if option.first.is_visible() or (phone.wait_for_timeout(1000) or option.first.is_visible()):
            break
    option.first.click()
    wait_idle(phone)
    phone.get_by_role("button", name="Make default").click()
    wait_idle(phone)
    caption = phone.get_by_text("Traffic that would move, from the last 7 days' jobs")
    expect(caption).to_be_visible(timeout=15_000)
    grid = phone.get_by_test_id("stDataFrame").last
    expect(grid).to_be_visible()
    grid_box = grid.bounding_box()
    assert grid_box["x"] >= 0 and grid_box["x"] + grid_box["width"] <= WIDTH + TOLERANCE, grid_box
    expect(phone.get_by_role("button", name="Confirm")).to_be_visible()
    assert overflow(phone) <= TOLERANCE
