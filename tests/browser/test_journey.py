"""Journeys in a real headless Chromium against `python -m dashboard run`."""

import csv
import io
import json
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from dashboard.text import WORD_JOINER
from tests.browser.conftest import click_first_row, go_to, sign_in, wait_idle

pytestmark = pytest.mark.browser


def test_sign_in_filter_edit_pricing_save_see_it_and_download_the_csv(browser_page, app_server, engine, tmp_path):
    page = browser_page
    sign_in(page, app_server, "admin@example.com", path="/models?modality=image&q=SDXL")
    # An email is data: an invisible word joiner after its @ keeps Streamlit from making it a mailto link.
    assert page.get_by_text(re.compile(f"Signed in as admin@{WORD_JOINER}?example\\.com")).is_visible()
    assert page.get_by_text("1–2 of 2 models").is_visible()  # the link's filters survived signing in
    page.screenshot(path=str(tmp_path / "models.png"))

    click_first_row(page)  # SDXL 1.0: priority 1, first by name
    page.get_by_role("button", name="Open in editor").click()  # admins tick rows; one ticked opens in the editor
    wait_idle(page)
    assert page.get_by_role("heading", name="SDXL 1.0").is_visible()
    page.get_by_role("tab", name="Pricing").click()
    pricing = page.get_by_role("textbox", name="Pricing")
    pricing.fill('{"per_image": 0.0031, "currency": "usd", "billing_unit": "per_image"}')
    pricing.blur()
    wait_idle(page)
    assert page.get_by_text("pricing.currency must be a three-letter currency code").first.is_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    wait_idle(page)
    assert page.get_by_text("Fix the problems above before saving.").is_visible()
    # Type the fix and click Save straight away, without leaving the field first: one click must do.
    pricing.fill('{"per_image": 0.0031, "currency": "USD", "billing_unit": "per_image"}')
    page.get_by_role("button", name="Save", exact=True).click()
    wait_idle(page)
    assert page.get_by_text("Saved SDXL 1.0.").is_visible()
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select pricing from api_models where display_name = 'SDXL 1.0'")).scalar_one()
    assert stored["per_image"] == 0.0031

    go_to(page, "Models")
    page.get_by_role("textbox", name="Search").fill("SDXL 1.0")
    page.get_by_role("textbox", name="Search").press("Enter")
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    data = download.value.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["display_name"] for r in rows] == ["SDXL 1.0"]
    assert json.loads(rows[0]["pricing"])["per_image"] == 0.0031


def test_a_signed_out_visitor_reaches_no_page_but_sign_in(browser_page, app_server):
    page = browser_page
    for path in ("/", "/models", "/model_editor", "/providers", "/overview"):
        page.goto(app_server.url + path)
        wait_idle(page)
        assert page.get_by_role("button", name="Sign in").is_visible(), path
        assert page.get_by_test_id("stSidebarNav").count() == 0, path
        assert page.get_by_test_id("stException").count() == 0, path


def test_a_plain_user_sees_a_read_only_catalogue(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "viewer@example.com")
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "Models" in nav and "Model editor" not in nav and "Providers" not in nav
    assert page.get_by_text("Only admins can change the catalogue").is_visible()


def test_an_admin_reads_usage_charts_and_downloads_one_as_png(browser_page, app_server, tmp_path):
    page = browser_page
    sign_in(page, app_server, "admin@example.com", path="/usage?range=all")
    # The five figures arrive one by one as the run streams them; wait for all five, not just the first.
    expect(page.locator(".js-plotly-plot")).to_have_count(5, timeout=30_000)
    assert page.get_by_text("Jobs per model").first.is_visible()
    page.screenshot(path=str(tmp_path / "usage.png"), full_page=True)
    chart = page.locator(".js-plotly-plot").first
    chart.hover()
    with page.expect_download() as download:
        page.locator('[data-title="Download plot as a PNG"]').first.click()
    assert download.value.suggested_filename == "jobs-per-model-all-time.png"
    assert download.value.path().read_bytes().startswith(b"\x89PNG")
    assert page.get_by_test_id("stException").count() == 0


def test_an_admin_imports_a_csv_after_a_dry_run(browser_page, app_server, engine, tmp_path):
    page = browser_page
    upload = tmp_path / "models.csv"
    upload.write_text("provider,model_key,version,display_name,modality,task,priority\n"
                      "replicate,acme/imported,,Imported Model,image,generation,7\n"
                      "replicate,black-forest-labs/flux-1.1-pro,1.1,Flux 1.1 Pro,image,generation,6\n",
                      encoding="utf-8")  # fmt: skip
    sign_in(page, app_server, "admin@example.com", path="/transfer")
    page.get_by_role("tab", name="Import").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    wait_idle(page)
    page.get_by_text("Changed", exact=True).wait_for()
    assert page.get_by_role("button", name="Apply 2 changes").is_visible()
    page.screenshot(path=str(tmp_path / "import.png"), full_page=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where model_key = 'acme/imported'")).scalar() == 0
    page.get_by_role("button", name="Apply 2 changes").click()
    wait_idle(page)
    page.get_by_role("button", name="Apply", exact=True).click()
    wait_idle(page)
    page.get_by_text("Imported: 1 new and 1 changed models.").wait_for()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select priority from api_models where model_key = 'acme/imported'")).scalar() == 7
