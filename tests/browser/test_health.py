"""Health in a real browser: the Overview names a failing routed model and links to the page; the page shows the
findings as alerts, the hostile name as text, switches to 24 hours with the URL following, and exports its table."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests import hostile
from tests.browser.conftest import chromium_page, go_to, sign_in, wait_idle
from tests.factories import make_model

pytestmark = pytest.mark.browser
NAME = f"{hostile.HTML} {hostile.LINK}"


def _failing_slot(engine) -> None:
    """A slot of its own whose routed model (a hostile name) failed 30 of 40 jobs a moment ago, and 3 stuck jobs."""
    model = make_model(engine, display_name=NAME, task="health-check", is_default=True)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) "
                "select :m, case when n <= 30 then 'failed' else 'completed' end, now() from generate_series(1, 40) n"
            ),
            {"m": model},
        )
        conn.execute(
            sa.text(
                "insert into jobs (api_model_id, status, created_at) "
                "select :m, 'queued', now() - interval '3 hours' from generate_series(1, 3)"
            ),
            {"m": model},
        )


def test_an_admin_follows_the_overview_to_health_and_exports_it(browser_page, app_server, engine, tmp_path):
    _failing_slot(engine)
    page = browser_page
    sign_in(page, app_server, "admin@example.com")
    message = f"image/health-check routes to {NAME}, failing 75%"
    # The name as a person reads it (md_escape's invisible word joiners aside): on the Overview first.
    shown = page.get_by_test_id("stAlert").filter(has_text="image/health-check routes to").first
    assert shown.is_visible() and message in shown.inner_text().replace(hostile.WORD_JOINER, "")
    page.get_by_role("link", name="See all").or_(page.get_by_role("link", name="Open Health")).first.click()
    wait_idle(page)
    assert page.url.split("?")[0].endswith("/health")
    alerts = page.get_by_test_id("stAlert")
    [failing] = [t.replace(hostile.WORD_JOINER, "") for t in alerts.all_inner_texts() if "health-check" in t]
    assert message in failing
    assert alerts.filter(has_text="3 jobs stuck in the queue on").count() == 1
    assert page.locator("img[src='x']").count() == 0  # the name stayed text
    assert page.get_by_role("link", name="click me").count() == 0
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "health.png"), full_page=True)
    thresholds = page.get_by_text("Thresholds, and where to change them")
    thresholds.scroll_into_view_if_needed()
    thresholds.click()
    wait_idle(page)
    assert page.get_by_text("DASHBOARD_HEALTH_STUCK_MINUTES").count() or page.get_by_test_id("stDataFrame").count() == 2
    page.screenshot(path=str(tmp_path / "health-notes.png"))

    page.get_by_text("Last 24 hours", exact=True).click()
    wait_idle(page)
    assert "window=24h" in page.url
    assert page.get_by_text("the last 24 hours", exact=False).first.is_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("health-24h-")
    data = download.value.path().read_bytes()
    assert hostile.csv_problems(data) == []
    assert NAME in {row["model"] for row in hostile.csv_rows(data)}
    assert page.get_by_test_id("stException").count() == 0


def test_a_plain_users_link_to_health_says_it_is_for_admins(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "viewer@example.com", path="/health?window=24h")
    assert page.get_by_text("Health is for admins only.").is_visible()
    assert page.get_by_test_id("stSidebarNav").get_by_text("Health", exact=True).count() == 0
    assert page.get_by_test_id("stDataFrame").count() == 0


def test_the_menu_opens_health(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "admin@example.com")
    go_to(page, "Health")
    assert page.get_by_role("heading", name="Health").first.is_visible()
    assert page.get_by_test_id("stException").count() == 0


def test_the_page_fits_a_phone(app_server, engine, tmp_path):
    from tests.browser.test_phone import PHONE_AGENT, TOLERANCE, WIDTH, overflow

    _failing_slot(engine)
    options = {"viewport": {"width": WIDTH, "height": 844}, "is_mobile": True, "user_agent": PHONE_AGENT}
    with chromium_page(tmp_path / "phone.png", **options) as phone:
        sign_in(phone, app_server, "admin@example.com", path="/health?window=24h")
        expect(phone.get_by_test_id("stDataFrame").first).to_be_visible()
        for name in ("Last hour", "Last 24 hours"):  # both window buttons on screen
            box = phone.get_by_text(name, exact=True).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= WIDTH + TOLERANCE, (name, box)
        assert phone.get_by_test_id("stException").count() == 0
        assert overflow(phone) <= TOLERANCE
