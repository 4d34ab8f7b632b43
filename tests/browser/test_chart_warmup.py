"""An admin's tab makes Plotly ready once its page is still (dashboard/ui/chart_warmup.py): the first chart then
uses that very copy (the chunk is fetched once), and a plain user's tab loads none."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import go_to, sign_in

pytestmark = pytest.mark.browser
PLOTLY_FETCHES = "performance.getEntriesByType('resource').filter((e) => e.name.includes('/PlotlyChart.')).length"


def test_an_idle_admin_tab_loads_plotly_once_and_the_usage_charts_use_it(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "admin@example.com")
    assert page.get_by_test_id("stPlotlyChart").count() == 0  # the Overview draws no chart
    page.wait_for_function(f"{PLOTLY_FETCHES} === 1", timeout=20_000)
    go_to(page, "Usage")
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    assert page.evaluate(PLOTLY_FETCHES) == 1  # Streamlit's own import found it ready: one copy, not two
    assert page.get_by_test_id("stException").count() == 0


def test_a_plain_users_tab_loads_no_plotly(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "viewer@example.com")
    page.wait_for_timeout(3_000)  # three times the stillness the warm-up waits for
    assert page.evaluate("window.__dashboardChartsReady") is None
    assert page.evaluate(PLOTLY_FETCHES) == 0
