"""Journeys in a real headless Chromium against `python -m dashboard run`."""

import csv
import io
import json
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from dashboard.text import WORD_JOINER
from dashboard.ui.model_views import TABLE_COLUMNS
from tests.browser.conftest import click_first_row, go_to, sign_in, wait_idle
from tests.hostile import SQL

pytestmark = pytest.mark.browser


def click_first_model(page) -> None:
    """Click the first row's model name (a cell, not its tick box): one click opens the model."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 35 + 10)  # the pointer gets there first, as a person's does
    page.mouse.click(box["x"] + 110, box["y"] + 35 + 17)
    wait_idle(page)


def test_sign_in_filter_edit_pricing_save_see_it_and_download_the_csv(browser_page, app_server, engine, tmp_path):
    page = browser_page
    sign_in(page, app_server, "admin@example.com", path="/models?modality=image&q=SDXL")
    # An email is data: an invisible word joiner after its @ keeps Streamlit from making it a mailto link.
    assert page.get_by_text(re.compile(f"Signed in as admin@{WORD_JOINER}?example\\.com")).is_visible()
    assert page.get_by_text("1–2 of 2 models").is_visible()  # the link's filters survived signing in
    page.screenshot(path=str(tmp_path / "models.png"))

    click_first_model(page)  # SDXL 1.0: priority 1, first by name; one click on its row opens the editor
    expect(page.get_by_role("heading", name="SDXL 1.0")).to_be_visible(timeout=15_000)  # a loaded machine is slow
    page.get_by_role("tab", name="Pricing").click()
    wait_idle(page)
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
    assert page.get_by_role("tab", name="Pricing").get_attribute("aria-selected") == "true"  # the tab stayed open
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select pricing from api_models where display_name = 'SDXL 1.0'")).scalar_one()
    assert stored["per_image"] == 0.0031

    go_to(page, "Models")
    page.get_by_role("textbox", name="Search").fill("SDXL 1.0")
    page.get_by_role("textbox", name="Search").press("Enter")
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename == "models-sdxl-1-0.csv"  # named after the view it exports
    data = download.value.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["display_name"] for r in rows] == ["SDXL 1.0"]
    assert json.loads(rows[0]["pricing"])["per_image"] == 0.0031
    assert rows[0]["id"] and rows[0]["created_at"] and rows[0]["updated_at"]


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
    upload.write_text(
        "provider,model_key,version,display_name,modality,task,priority\n"
        "replicate,acme/imported,,Imported Model,image,generation,7\n"
        "replicate,black-forest-labs/flux-1.1-pro,1.1,Flux 1.1 Pro,image,generation,6\n",
        encoding="utf-8",
    )
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


def test_ticking_rows_still_selects_them_for_a_bulk_change(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "admin@example.com", path="/models?modality=image&task=upscale")
    click_first_row(page)  # the tick box, not the name
    assert page.get_by_text("1 model selected").is_visible()
    assert page.get_by_role("button", name="Open in editor").is_visible()
    assert page.get_by_test_id("stException").count() == 0


def test_a_plain_user_clicks_a_model_to_see_it_and_closes_it(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "viewer@example.com", path="/?modality=image&task=generation")
    click_first_model(page)
    close = page.get_by_role("button", name="Close")
    expect(close).to_be_visible()
    first = page.get_by_role("heading", level=3).first.inner_text()
    close.click()
    wait_idle(page)
    expect(page.get_by_role("button", name="Close")).to_have_count(0)
    table, grid = page.get_by_test_id("stDataFrame").first, None
    while grid != (grid := table.bounding_box()):  # the table moves up once the view is gone: let it settle
        page.wait_for_timeout(300)
    page.mouse.move(grid["x"] + 100, grid["y"] + 35 + 35 + 10, steps=4)  # as a person's pointer gets there
    page.mouse.click(grid["x"] + 110, grid["y"] + 35 + 35 + 17)  # the second model: one click opens it at once
    wait_idle(page)
    expect(page.get_by_role("button", name="Close")).to_be_visible()
    assert page.get_by_role("heading", level=3).first.inner_text() != first
    assert page.get_by_test_id("stException").count() == 0


def _choose(page, picker: str, option: str) -> None:
    """Type an option into a searchable select box and take it."""
    box = page.get_by_role("combobox", name=picker)
    box.click()
    box.fill(option)
    page.keyboard.press("Enter")
    wait_idle(page)


def test_the_menus_model_editor_opens_a_picker_and_the_editor_switches_models(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "admin@example.com", path="/models")
    go_to(page, "Model editor")
    assert page.get_by_role("heading", name="Model editor").is_visible()
    _choose(page, "Open a model", "SDXL 1.0")
    expect(page.get_by_role("heading", name="SDXL 1.0")).to_be_visible(timeout=15_000)
    _choose(page, "Open another model", "Flux 1.1 Pro")
    assert page.get_by_role("heading", name="Flux 1.1 Pro").is_visible()
    assert "id=" in page.url


def test_a_plain_users_link_to_an_admin_page_says_admins_only(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "viewer@example.com", path="/usage?range=7d&modality=audio")
    assert page.get_by_text("Usage is for admins only").is_visible()
    assert "range=" not in page.url and "modality=" not in page.url
    page.get_by_role("link", name="Go to the models").click()
    wait_idle(page)
    assert page.get_by_text("Only admins can change the catalogue").is_visible()
    assert page.get_by_text("1–28 of 28 models").is_visible()  # no filter came along from the Usage link


def test_parameters_stay_with_their_page_and_their_account(browser_page, app_server):
    page = browser_page
    sign_in(page, app_server, "admin@example.com", path="/usage?range=7d&modality=audio&model=" + SQL)
    go_to(page, "Models")
    assert "range=" not in page.url and "modality=" not in page.url
    assert page.get_by_text("1–32 of 32 models").is_visible()  # Usage's modality did not filter the table
    page.goto(app_server.url + "/usage?range=7d&modality=audio")
    wait_idle(page)
    page.get_by_role("button", name="Sign out").click()
    wait_idle(page)
    assert "range=" not in page.url
    sign_in(page, app_server, "viewer@example.com", path="/" + page.url.split("/", 3)[-1])
    assert "range=" not in page.url and "modality=" not in page.url
    assert page.get_by_text("1–28 of 28 models").is_visible() or page.get_by_text("is for admins only").is_visible()


def test_at_1920_pixels_the_whole_table_fits_and_the_model_key_is_not_cut(browser_page, app_server, engine, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, app_server, "admin@example.com", path="/models")
    assert page.get_by_text("1–32 of 32 models").is_visible()
    scroller = page.get_by_test_id("stDataFrame").first.locator(".dvn-scroller").first
    size = scroller.evaluate("e => [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]")
    page.screenshot(path=str(tmp_path / "models-1920.png"), full_page=True)
    assert size[0] <= size[1] + 1, size  # no sideways scrolling: every column, the model key's too, in view
    assert size[2] <= size[3] + 1, size  # every row of the page in view: the page scrolls, not the table
    # The longest demo key, measured in the table's own font, fits its column (with the cell's padding).
    with engine.connect() as conn:
        key = conn.execute(sa.text("select model_key from api_models order by length(model_key) desc")).first()[0]
    measure = """key => { const c = document.createElement("canvas").getContext("2d");
        c.font = "14px " + getComputedStyle(document.body).fontFamily; return c.measureText(key).width; }"""
    text_width = page.evaluate(measure, key)
    assert text_width + 16 <= TABLE_COLUMNS["model_key"]["width"], (key, text_width)
