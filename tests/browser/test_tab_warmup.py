"""An admin's tab makes the table and chart code ready once its page is still (dashboard/ui/tab_warmup.py): Models
and Usage then use those very copies (each chunk fetched once), and a plain user's tab imports nothing."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import go_to, sign_in

pytestmark = pytest.mark.browser


def _fetches(page, chunk: str) -> int:
    return page.evaluate(
        "(chunk) => performance.getEntriesByType('resource')"
        ".filter((e) => e.name.includes('/' + chunk + '.') && e.name.endsWith('.js')).length",
        chunk,
    )


def test_an_idle_admin_tab_loads_table_and_chart_code_once_and_the_pages_use_it(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "admin@example.com")
    assert page.get_by_test_id("stPlotlyChart").count() == 0 and page.get_by_test_id("stDataFrame").count() == 0
    page.wait_for_function("performance.getEntriesByType('resource').some((e) => e.name.includes('/PlotlyChart.'))")
    assert _fetches(page, "DataFrame") == 1  # tables first: Models is the Overview's most common next page
    go_to(page, "Models")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    go_to(page, "Usage")
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    assert (_fetches(page, "DataFrame"), _fetches(page, "PlotlyChart")) == (1, 1)  # the copies made ready, not two
    assert page.get_by_test_id("stException").count() == 0


def test_a_plain_users_tab_imports_nothing_early(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "viewer@example.com")
    page.wait_for_timeout(3_000)  # three times the stillness the warm-up waits for
    assert page.evaluate("window.__dashboardTabWarm") is None
    assert _fetches(page, "PlotlyChart") == 0
