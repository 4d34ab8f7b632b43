"""One click opens a model: a click on its row in the Models table (the editor for admins, a read-only view for
others), the picker at the top of the editor, and the editor without a model.

AppTest cannot click a table, so the tests put the click where Streamlit keeps it: the table's key in session
state, as {"selection": {"rows": [...], "columns": [], "cells": [[row, column]]}}.
"""

from __future__ import annotations

import pytest

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts
from tests.hostile import read

MODELS = "pages/models.py"
EDITOR = "pages/model_editor.py"


def _click(at, row, column="display_name", *, rows=()):
    at.session_state["models_table"] = {"selection": {"rows": list(rows), "columns": [], "cells": [[row, column]]}}
    return at.run()


def _labels(at) -> list[str]:
    return [b.label for b in at.button]


def test_an_admins_click_on_a_row_opens_the_model_in_the_editor(demo_db, signed_in):
    at = signed_in(page=MODELS, q="SDXL 1.0")
    assert list(at.dataframe[0].value["display_name"]) == ["SDXL 1.0"]
    _click(at, 0, "model_key")
    assert not at.exception, at.exception
    assert read(at.title[0].value) == "SDXL 1.0"
    assert at.text_input(key="ed_display_name").value == "SDXL 1.0"
    assert at.query_params.get("id") in (str(SDXL_ID), [str(SDXL_ID)])


def test_an_admins_click_switches_before_the_models_page_is_drawn(demo_db, signed_in, monkeypatch):
    """Drawn first, the Models page went to the browser only to be replaced by the editor."""
    at = signed_in(page=MODELS, q="SDXL 1.0")
    from dashboard.ui import model_filters

    drawn = []
    monkeypatch.setattr(model_filters, "render_filters", lambda **kw: drawn.append(kw) or None)
    _click(at, 0, "model_key")
    assert not at.exception, at.exception
    assert drawn == [] and read(at.title[0].value) == "SDXL 1.0"


def test_coming_back_to_the_table_does_not_open_the_model_again(demo_db, signed_in):
    at = _click(signed_in(page=MODELS, q="SDXL 1.0"), 0)
    assert read(at.title[0].value) == "SDXL 1.0"
    at.switch_page(f"../../{MODELS}").run()
    assert not at.exception
    assert at.title[0].value == "Models"
    at.run()  # and on the next click too
    assert at.title[0].value == "Models"


def test_an_admins_click_keeps_the_ticked_rows_for_bulk_changes(demo_db, signed_in):
    at = signed_in(page=MODELS)
    at.session_state["models_table"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert "2 models selected" in texts(at)  # ticking rows still selects them for a bulk change


def test_a_plain_users_click_shows_the_model_read_only_and_closes(demo_db, signed_in):
    at = signed_in("viewer@example.com", q="SDXL 1.0")  # a plain user's first page, drawn at the root
    _click(at, 0, "price")
    assert not at.exception, at.exception
    assert "SDXL 1.0" in [read(s.value) for s in at.subheader]
    fields = next(d.value for d in at.dataframe if list(d.value.columns) == ["Field", "Value"])
    assert dict(zip(fields["Field"], fields["Value"], strict=True))["Price"] == "0.0023 USD / image"
    assert "Save" not in _labels(at) and "Open in editor" not in _labels(at)
    next(b for b in at.button if b.key == "model_details_close").click().run()
    assert not at.exception
    assert "SDXL 1.0" not in [read(s.value) for s in at.subheader]


@pytest.mark.parametrize("email", ["admin@example.com", "viewer@example.com"])
def test_hostile_clicks_are_ignored(demo_db, signed_in, email):
    at = signed_in(email, page=MODELS)
    bogus = [
        [-1, "display_name"],
        [999, "display_name"],
        [True, "model_key"],
        ["0", "x"],
        [0],
        None,
        "0",
        *([v, v] for v in hostile.URL_VALUES[:8]),
    ]
    at.session_state["models_table"] = {"selection": {"rows": [], "columns": [], "cells": bogus}}
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Models"
    at.session_state["models_table"] = {"selection": hostile.JSON_OBJECT}
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Models"


def test_the_editor_switches_to_another_model_and_keeps_the_first_ones_edits(demo_db, engine, signed_in):
    import sqlalchemy as sa

    with engine.connect() as conn:
        flux = str(conn.execute(sa.text("select id from api_models where display_name = 'Flux 1.1 Pro'")).scalar_one())
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    assert at.selectbox(key="ed_switch").value == str(SDXL_ID)
    at.text_input(key="ed_display_name").input("SDXL draft").run()
    at.selectbox(key="ed_switch").set_value(flux).run()
    assert not at.exception, at.exception
    assert read(at.title[0].value) == "Flux 1.1 Pro"
    assert at.selectbox(key="ed_switch").value == flux  # the picker follows the model shown
    at.selectbox(key="ed_switch").set_value(str(SDXL_ID)).run()
    assert at.text_input(key="ed_display_name").value == "SDXL draft"  # the draft waited


def test_the_editor_shows_the_models_id_and_times(demo_db, signed_in):
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    line = texts(at)
    assert f"Id {SDXL_ID} · created " in line and " · updated " in line and "UTC" in line


def test_the_editor_without_a_model_offers_a_picker_and_opens_the_pick(demo_db, signed_in):
    at = signed_in(page=EDITOR)
    assert at.title[0].value == "Model editor"
    at.selectbox[0].set_value(str(SDXL_ID)).run()
    assert not at.exception, at.exception
    assert read(at.title[0].value) == "SDXL 1.0"


def test_the_menus_model_editor_opens_the_picker_not_the_last_model(demo_db, signed_in):
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    assert read(at.title[0].value) == "SDXL 1.0"
    at.switch_page(f"../../{MODELS}").run()
    at.switch_page(f"../../{EDITOR}").run()  # as the menu's "Model editor" does
    assert not at.exception
    assert at.title[0].value == "Model editor" and at.selectbox[0].label == "Open a model"


def _add_models(engine, count: int) -> None:
    import sqlalchemy as sa

    from tests.factories import make_provider

    provider = make_provider(engine, name="many", display_name="many")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into api_models (provider_id, model_key, display_name, modality, task) "
                "select :p, 'many/' || g, 'Many ' || g, 'image', 'generation' from generate_series(1, :n) g"
            ),
            {"p": provider, "n": count},
        )


def test_the_editors_pickers_offer_a_search_not_every_model(demo_db, engine, signed_in):
    _add_models(engine, 300)
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    options = at.selectbox(key="ed_switch").options
    assert 2 <= len(options) <= 51 and at.selectbox(key="ed_switch").value == str(SDXL_ID)  # the model shown kept
    at.text_input(key="ed_find").input("many 29").run()
    assert not at.exception, at.exception
    found = at.selectbox(key="ed_switch").options
    assert len(found) == 12  # Many 29, Many 290..299, and SDXL 1.0 (shown)
    at = signed_in(page=EDITOR)
    at.text_input(key="ed_pick_find").input("MANY 300").run()
    assert [read(o) for o in at.selectbox[0].options] == ["Many 300 · many"]


@pytest.mark.parametrize("text", hostile.TEXT)
def test_the_editors_search_takes_hostile_text_literally(demo_db, signed_in, text):
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    at.text_input(key="ed_find").input(text[:100]).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ed_switch").value == str(SDXL_ID)


def test_the_editors_search_finds_a_model_added_since_it_last_searched(demo_db, engine, signed_in):
    """The labels searched are kept per data version: a model added by anyone is found on the next click."""
    at = signed_in(page=EDITOR)
    at.text_input(key="ed_pick_find").input("many 7").run()
    assert at.selectbox[0].options == []
    _add_models(engine, 7)
    at.run()
    assert [read(o) for o in at.selectbox[0].options] == ["Many 7 · many"]
