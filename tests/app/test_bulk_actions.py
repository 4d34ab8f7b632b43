"""Bulk changes from the Models table, in AppTest on the demo catalogue (reordering: test_routing_reorder.py).

AppTest cannot tick rows in a table, so the tests put the selection where Streamlit keeps it: the table's key
in session state, as {"selection": {"rows": [...], "columns": [], "cells": []}}.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_model

MODELS = "pages/models.py"
ROUTING = "pages/routing.py"


def _select(at, *rows):
    at.session_state["models_table"] = {"selection": {"rows": list(rows), "columns": [], "cells": []}}
    return at.run()


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _labels(at) -> list[str]:
    return [b.label for b in at.button]


def _db(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _model(engine, name) -> dict:
    return dict(_db(engine, "select * from api_models where display_name = :n", n=name).one()._mapping)


def _review_and_apply(at, count):
    _button(at, "Review").click().run()
    assert not at.exception, at.exception
    _button(at, f"Apply to {count} models").click().run()
    assert not at.exception, at.exception
    return at


def test_deactivating_a_whole_slot_says_its_jobs_cannot_be_routed_then_applies(demo_db, engine, signed_in):
    at = signed_in(page=MODELS, modality="image", task="upscale")
    assert list(at.dataframe[0].value["display_name"]) == ["Real-ESRGAN 4×", "Clarity Upscaler"]
    _select(at, 0, 1)
    assert "2 models selected" in texts(at) and "Open in editor" not in _labels(at)
    at.selectbox(key="bulk_action").set_value("deactivate").run()
    _button(at, "Review").click().run()
    said = texts(at)
    assert "image/upscale is left with no active model: its jobs cannot be routed" in said
    assert "The default for image/upscale (Real-ESRGAN 4×) becomes inactive" in said
    assert list(at.dataframe[1].value["Change"]) == ["active → inactive"] * 2
    assert _model(engine, "Real-ESRGAN 4×")["is_active"]  # nothing is saved by a review
    assert "Jobs of image/upscale will have no model to go to" in texts(at)  # the prompt of the review's buttons
    _button(at, "Apply to 2 models").click().run()
    assert not at.exception, at.exception
    assert not _model(engine, "Real-ESRGAN 4×")["is_active"] and not _model(engine, "Clarity Upscaler")["is_active"]
    said = texts(at)
    assert "Deactivated 2 models. Jobs of image/upscale cannot be routed now." in said
    assert "2 models selected" in said  # still selected, e.g. to activate them again


def test_set_priority_then_move_to_another_provider(demo_db, engine, signed_in):
    at = signed_in(page=MODELS, modality="audio", task="tts")
    assert list(at.dataframe[0].value["display_name"]) == ["Eleven Multilingual v2", "OpenAI TTS-1", "XTTS v2"]
    _select(at, 1, 2)
    at.selectbox(key="bulk_action").set_value("priority").run()
    at.number_input(key="bulk_priority").set_value(0).run()
    _button(at, "Review").click().run()
    assert (
        "audio/tts now routes to OpenAI TTS-1 instead of its default Eleven Multilingual v2: OpenAI TTS-1 has a "
        "lower priority number (0 < 1)"
    ) in texts(at)
    assert "OpenAI TTS-1 and XTTS v2 share priority 0 at the top of audio/tts" in texts(at)
    _button(at, "Apply to 2 models").click().run()
    assert (_model(engine, "OpenAI TTS-1")["priority"], _model(engine, "XTTS v2")["priority"]) == (0, 0)
    assert "Set priority 0 on 2 models." in texts(at)

    fal = _db(engine, "select id from api_providers where name = 'fal'").scalar_one()
    _select(at, 0)
    assert "1 model selected" in texts(at)
    at.selectbox(key="bulk_action").set_value("provider").run()
    at.selectbox(key="bulk_provider").set_value(str(fal)).run()
    _button(at, "Review").click().run()
    assert list(at.dataframe[1].value["Change"])[0].endswith("→ fal.ai")
    assert "Move 1 model to fal.ai now? All of them change, or none does." in texts(at)
    _button(at, "Apply to 1 model").click().run()
    assert not at.exception, at.exception
    assert "Moved 1 model to fal.ai." in texts(at)
    moved = _model(engine, at.dataframe[0].value["display_name"][0])
    assert moved["provider_id"] == fal


def test_one_selected_row_opens_in_the_editor(demo_db, signed_in):
    at = _select(signed_in(page=MODELS, q="SDXL"), 0)
    _button(at, "Open in editor").click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="ed_display_name").value == "SDXL 1.0"


def test_the_selection_stays_on_the_same_models_when_the_rows_move(demo_db, engine, signed_in):
    at = _select(signed_in(page=MODELS, modality="image", task="generation"), 2, 3)  # Flux Schnell, DALL·E 3
    assert "Flux Schnell, DALL·E 3" in texts(at)
    at.selectbox(key="bulk_action").set_value("priority").run()
    at.number_input(key="bulk_priority").set_value(0).run()
    _review_and_apply(at, 2)
    assert list(at.dataframe[0].value["display_name"])[:2] == ["DALL·E 3", "Flux Schnell"]
    assert at.session_state["models_table"]["selection"]["rows"] == [0, 1]
    _db(engine, "update api_models set priority = -1 where display_name = 'SDXL 1.0'")  # someone else
    at.run()
    assert at.session_state["models_table"]["selection"]["rows"] == [1, 2]
    assert "DALL·E 3, Flux Schnell" in texts(at)


def test_a_move_needs_a_provider_and_says_so(demo_db, engine, signed_in):
    at = _select(signed_in(page=MODELS), 0, 1)
    at.selectbox(key="bulk_action").set_value("provider").run()
    _button(at, "Review").click().run()
    assert "provider_id is required: pick a provider from the list" in texts(at)
    assert not [label for label in _labels(at) if label.startswith("Apply")]


def test_the_review_is_dropped_when_the_selection_or_the_change_moves_on(demo_db, signed_in):
    at = _select(signed_in(page=MODELS), 0, 1)
    _button(at, "Review").click().run()
    assert "Apply to 2 models" in _labels(at)
    _select(at, 0, 1, 2)
    assert "Apply to 2 models" not in _labels(at) and "Apply to 3 models" not in _labels(at)
    _button(at, "Review").click().run()
    at.selectbox(key="bulk_action").set_value("deactivate").run()
    assert "Apply to 3 models" not in _labels(at)


def test_a_change_made_by_someone_else_during_the_review_asks_again(demo_db, engine, signed_in):
    at = _select(signed_in(page=MODELS, modality="video", task="generation"), 1, 2)
    at.selectbox(key="bulk_action").set_value("deactivate").run()
    _button(at, "Review").click().run()
    _db(engine, "update api_models set priority = 5 where display_name = 'Gen-3 Alpha Turbo'")  # someone else
    _button(at, "Apply to 2 models").click().run()
    assert "The catalogue changed while you were reviewing" in texts(at)
    assert _model(engine, "Kling 1.6")["is_active"]
    _button(at, "Apply to 2 models").click().run()
    assert not _model(engine, "Kling 1.6")["is_active"] and not _model(engine, "HunyuanVideo")["is_active"]


def test_a_model_deleted_after_the_review_leaves_the_selection_and_nothing_changes(demo_db, engine, signed_in):
    doomed = make_model(
        engine,
        _db(engine, "select id from api_providers where name = 'fal'").scalar_one(),
        display_name="Doomed",
        modality="video",
        task="generation",
        priority=0,
    )
    at = _select(signed_in(page=MODELS, modality="video", task="generation"), 0, 1)
    at.selectbox(key="bulk_action").set_value("deactivate").run()
    _button(at, "Review").click().run()
    _db(engine, "delete from api_models where id = :id", id=doomed)
    _button(at, "Apply to 2 models").click().run()
    assert not at.exception, at.exception
    assert "1 selected model left the table" in at.toast[0].value
    assert "1 model selected" in texts(at) and "Apply to 1 model" not in _labels(at)  # review it again
    assert _model(engine, "Gen-3 Alpha Turbo")["is_active"]


def test_a_plain_user_gets_no_bulk_bar_and_a_read_only_model(demo_db, signed_in):
    at = signed_in("viewer@example.com", page=MODELS)
    _select(at, 0, 1)  # more rows than a single-row table allows: only the first counts
    assert not at.exception, at.exception
    assert "Review" not in _labels(at) and "models selected" not in texts(at)
    assert "Open in editor" not in _labels(at)
    assert at.json  # the read-only view of one model


@pytest.mark.parametrize("rows", [[999], [-1], ["0"], [True], [None], [0.5]])
def test_hostile_selections_are_ignored(demo_db, signed_in, rows):
    at = _select(signed_in(page=MODELS), *rows)
    assert not at.exception, at.exception
    assert "selected" not in texts(at)


def test_a_repeated_or_partly_bogus_selection_counts_each_real_row_once(demo_db, signed_in):
    at = _select(signed_in(page=MODELS), 0, 0, 999, "1; drop table api_models")
    assert "1 model selected" in texts(at)


@pytest.mark.parametrize("priority", [2**40, -(2**40)])
def test_an_out_of_range_priority_cannot_be_entered(demo_db, engine, signed_in, priority):
    at = _select(signed_in(page=MODELS, modality="image", task="upscale"), 0, 1)
    at.selectbox(key="bulk_action").set_value("priority").run()
    at.number_input(key="bulk_priority").set_value(priority).run()
    assert not at.exception, at.exception
    entered = at.number_input(key="bulk_priority").value
    assert -(2**31) <= entered < 2**31
    _review_and_apply(at, 2)
    assert {_model(engine, n)["priority"] for n in ("Real-ESRGAN 4×", "Clarity Upscaler")} == {entered}


def test_hostile_names_are_shown_as_text_in_the_review(demo_db, engine, signed_in):
    name = f"{hostile.LINK} {hostile.HTML}"
    make_model(
        engine,
        _db(engine, "select id from api_providers where name = 'fal'").scalar_one(),
        display_name=name,
        modality="audio",
        task="dub",
        is_default=True,
    )
    at = _select(signed_in(page=MODELS, modality="audio", task="dub"), 0)
    at.selectbox(key="bulk_action").set_value("deactivate").run()
    _button(at, "Review").click().run()
    assert f"The default for audio/dub ({name}) becomes inactive" in texts(at)
    assert hostile.markdown_problems(at.warning[0].value) == []


def test_a_filter_keeps_the_selected_models_it_still_shows_and_drops_the_rest(demo_db, signed_in):
    at = _select(signed_in(page=MODELS), 0, 1)
    assert "Eleven Multilingual v2, Embedding 3 Small" in texts(at)  # the first two as routing orders them
    at.selectbox(key="f_modality").select("audio").run()
    assert "1 model selected" in texts(at) and "Eleven Multilingual v2" in texts(at)
    assert not at.toast  # the person changed the view: no notice needed
    at.selectbox(key="f_modality").select("video").run()
    assert "selected" not in texts(at)


def test_cancelling_a_bulk_review_closes_it_and_changes_nothing(demo_db, engine, signed_in):
    at = _select(signed_in(page=MODELS, modality="image", task="upscale"), 0, 1)
    at.selectbox(key="bulk_action").set_value("deactivate").run()
    _button(at, "Review").click().run()
    _button(at, "Cancel").click().run()
    assert not at.exception, at.exception
    assert "Apply to 2 models" not in _labels(at) and "Review" in _labels(at)
    assert _model(engine, "Real-ESRGAN 4×")["is_active"] and _model(engine, "Clarity Upscaler")["is_active"]


def test_the_review_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    _db(  # 21 jobs of Real-ESRGAN 4× in the last 7 days: 3 a day at least
        engine,
        "insert into jobs (api_model_id, status, created_at) select id, 'completed', date_trunc('hour', now()) "
        "- interval '1 day' from api_models, generate_series(1, 21) where display_name = :n",
        n="Real-ESRGAN 4×",
    )
    at = signed_in(page=MODELS, modality="image", task="upscale")
    _select(at, 0, 1)
    at.selectbox(key="bulk_action").set_value("deactivate").run()
    _button(at, "Review").click().run()
    assert not at.exception
    moves = at.dataframe[-1].value
    row = moves[moves["From"] == "Real-ESRGAN 4×"].iloc[0]
    assert (row["To"], row["Slot"]) == ("no model: cannot be routed", "image/upscale") and row["Jobs/day"] >= 3
