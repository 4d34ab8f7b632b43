"""The Routing preview of a slot of thousands of models in a real browser: a bounded page (DOM nodes and bytes, not
a row of widgets per model), and a model moved by typing its new position in the order grid."""

import pytest
import sqlalchemy as sa

from tests.browser.conftest import sign_in, wait_idle

pytestmark = pytest.mark.browser
SIZE = 2_000


def test_a_large_slot_draws_a_bounded_page_and_a_typed_position_moves_a_model(browser_page, app_server, engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into api_models (provider_id, model_key, display_name, modality, task, priority) "
                "select (select id from api_providers where name = 'fal'), 'bulk/m-' || n, "
                "'Bulk ' || lpad(n::text, 5, '0'), 'image', 'generation', 10 + n from generate_series(1, :count) n"
            ),
            {"count": SIZE - 6},
        )
    page = browser_page
    received = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
    sign_in(page, app_server, "admin@example.com", path="/routing?modality=image&task=generation")
    page.get_by_text("Reorder", exact=True).wait_for()
    assert page.get_by_text(f"of {SIZE:,} in this slot").is_visible()
    assert page.evaluate("document.getElementsByTagName('*').length") < 3_000  # 83,825 with a row of widgets each
    assert sum(received) < 300_000  # everything the sign-in and the page sent, tables included

    grid = page.get_by_test_id("stDataFrame").nth(2)  # candidates, left out, then the order grid
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 30, box["y"] + 35 * 3 + 17)  # the Position cell of the third row (Flux Schnell)
    page.wait_for_timeout(200)
    page.keyboard.press("Enter")  # opens the cell's editor
    page.wait_for_timeout(300)
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.wait_for_timeout(200)
    page.keyboard.press("Enter")
    wait_idle(page)
    assert page.get_by_text(
        "After saving, jobs of image/generation go to Flux Schnell instead of SDXL 1.0."
    ).is_visible()
    assert not page.get_by_test_id("stException").count()
