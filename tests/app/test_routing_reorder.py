"""Reordering a slot on the Routing preview: a model moves by typing its new position in the order grid, the pick in
the new order is previewed, the impact is reviewed before saving; and a slot of thousands of models stays one page
of widgets, not a row of widgets per model.

AppTest cannot type into a grid, so the tests put the edit where Streamlit keeps it: the grid's key in session state,
as {"edited_rows": {"<row>": {"Position": n}}, "added_rows": [], "deleted_rows": []}.
"""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts
from tests.app.test_hostile_text import served
from tests.factories import make_model, make_provider

ROUTING = "pages/routing.py"


def _db(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _model(engine, name) -> dict:
    return dict(_db(engine, "select * from api_models where display_name = :n", n=name).one()._mapping)


def _priorities(engine, task="generation", modality="image") -> dict[str, int]:
    return dict(
        _db(
            engine,
            "select display_name, priority from api_models where modality = :m and task = :t",
            m=modality,
            t=task,
        ).all()
    )


def order_grid(at):
    """The reorder grid as drawn: the table with a Position column."""
    return next(d for d in at.dataframe if "Position" in d.value.columns).value


def _edit(at, edited_rows: dict) -> None:
    key = f"reorder_grid_{at.session_state['_reorder_grid']['round']}"
    at.session_state[key] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def move(at, name: str, place) -> None:
    """Type place into the Position cell of the model called name (on the grid's page as drawn)."""
    row = list(order_grid(at)["Model"]).index(name)
    _edit(at, {str(row): {"Position": place}})


def _save_order(at):
    """Save order opens the impact review; its Confirm button saves."""
    at.button(key="reorder_save").click().run()
    assert not at.exception, at.exception
    return at.button(key="reorder_confirm_yes").click().run()


def test_ties_need_no_save_and_a_move_shows_which_numbers_change(demo_db, engine, signed_in):
    with engine.begin() as conn:  # three models tied at 0: the seed's tie-breakers order them
        conn.execute(
            sa.text(
                "update api_models set priority = 0, display_name = case when model_key = 'tts-1' "
                "then :n else display_name end where modality = 'audio' and task = 'tts'"
            ),
            {"n": hostile.SQL},
        )
    at = signed_in(page=ROUTING, modality="audio", task="tts")
    assert not at.exception, at.exception
    assert at.button(key="reorder_save").disabled  # the order routing follows already: nothing to save
    assert list(order_grid(at)["Priority"]) == ["0"] * 3
    move(at, "XTTS v2", 1)
    assert list(order_grid(at)["Model"]) == ["XTTS v2", "Eleven Multilingual v2", hostile.SQL]
    assert list(order_grid(at)["Position"]) == [1, 2, 3]
    assert list(order_grid(at)["Priority"]) == ["0", "0 → 1", "0 → 2"]  # ties must become numbers that say the order
    assert "Saving changes 2 of 3 priorities" in texts(at)
    assert not at.button(key="reorder_save").disabled


def test_moving_a_model_up_previews_the_new_pick_and_saves(demo_db, engine, signed_in):
    at = signed_in(page=ROUTING, modality="image", task="generation")
    assert "Jobs of image/generation still go to SDXL 1.0." in texts(at)
    move(at, "Flux 1.1 Pro", 1)
    assert "After saving, jobs of image/generation go to Flux 1.1 Pro instead of SDXL 1.0." in texts(at)
    assert _priorities(engine)["Flux 1.1 Pro"] == 2  # nothing saved yet
    at.button(key="reorder_save").click().run()
    assert (
        "image/generation now routes to Flux 1.1 Pro instead of its default SDXL 1.0: Flux 1.1 Pro has a lower "
        "priority number (0 < 1)"
    ) in texts(at)  # the review, before anything is saved
    assert "Saving changes 1 of 6 priorities; the other models keep theirs." in texts(at)
    assert _priorities(engine)["Flux 1.1 Pro"] == 2
    at.button(key="reorder_confirm_yes").click().run()
    assert not at.exception, at.exception
    # Only the moved model is renumbered: 0 is free above SDXL 1.0's 1, and every other number stays.
    assert _priorities(engine) == {
        "Flux 1.1 Pro": 0,
        "SDXL 1.0": 1,
        "Flux Schnell": 3,
        "DALL·E 3": 4,
        "Stable Diffusion 1.5": 5,
        "Stable Diffusion 2.1": 9,
    }
    assert "Saved the order of image/generation: 1 priority changed." in texts(at)
    assert "Jobs now go to Flux 1.1 Pro." in texts(at)
    assert list(at.dataframe[0].value["Model"])[0] == "Flux 1.1 Pro"  # the preview above shows it at once
    assert list(order_grid(at)["Priority"]) == ["0", "1", "3", "4", "5", "9"]  # the grid starts from the saved order


def test_moving_down_and_reset(demo_db, signed_in):
    at = signed_in(page=ROUTING, modality="audio", task="tts")
    move(at, "Eleven Multilingual v2", 2)
    assert "go to OpenAI TTS-1 instead of Eleven Multilingual v2" in texts(at)
    at.button(key="reorder_reset").click().run()
    assert "Jobs of audio/tts still go to Eleven Multilingual v2." in texts(at)
    assert list(order_grid(at)["Model"])[0] == "Eleven Multilingual v2"
    assert at.button(key="reorder_save").disabled  # nothing to save


def test_inactive_models_keep_their_place_and_two_moves_at_once(demo_db, engine, signed_in):
    at = signed_in(page=ROUTING, modality="image", task="generation")
    grid = order_grid(at)
    assert dict(zip(grid["Model"], grid["State"], strict=True))["Stable Diffusion 2.1"] == "model inactive"
    _edit(at, {"5": {"Position": 1}, "0": {"Position": 6}})  # SD 2.1 (inactive) to the top, SDXL to the bottom
    assert list(order_grid(at)["Model"]) == [
        "Stable Diffusion 2.1",
        "Flux 1.1 Pro",
        "Flux Schnell",
        "DALL·E 3",
        "Stable Diffusion 1.5",
        "SDXL 1.0",
    ]
    assert "go to Flux 1.1 Pro instead of SDXL 1.0" in texts(at)  # an inactive model at the top is not picked
    _save_order(at)
    saved = _priorities(engine)
    assert sorted(saved, key=saved.get) == ["Stable Diffusion 2.1", "Flux 1.1 Pro", *list(order_grid(at)["Model"])[2:]]


def test_saving_an_order_after_someone_changed_the_slot_is_refused(demo_db, engine, signed_in):
    at = signed_in(page=ROUTING, modality="audio", task="tts")
    move(at, "Eleven Multilingual v2", 3)
    make_model(
        engine,
        _db(engine, "select id from api_providers where name = 'fal'").scalar_one(),
        display_name="Newcomer",
        modality="audio",
        task="tts",
        priority=9,
    )
    before = _priorities(engine, "tts", "audio")
    _save_order(at)
    assert not at.exception, at.exception
    assert "changed since you loaded them" in texts(at) and "changed since you started reordering" in texts(at)
    assert _priorities(engine, "tts", "audio") == before


def test_a_tampered_order_is_refused(demo_db, engine, signed_in):
    at = signed_in(page=ROUTING, modality="audio", task="tts")
    key = "_reorder_audio/tts"
    expected = at.session_state[key]["expected"]
    at.session_state[key] = {"order": ["'; drop table api_models; --", *reversed(expected)], "expected": expected}
    at.run()
    before = _priorities(engine, "tts", "audio")
    _save_order(at)
    assert not at.exception, at.exception
    assert "is not a valid model id" in texts(at)
    assert _priorities(engine, "tts", "audio") == before
    for malformed in ("not an order", {"order": [{"a": 1}], "expected": [["x"]]}, {"order": None}):
        at.session_state[key] = malformed
        at.run()
        assert not at.exception, at.exception
        assert "still go to Eleven Multilingual v2" in texts(at)


@pytest.mark.parametrize(
    "edited_rows",
    [
        {"0": {"Position": "2; drop table api_models"}},
        {"0": {"Position": None}},
        {"0": {"Position": True}},
        {"0": {"Position": 1.5}},
        {"0": {"Position": [2]}},
        {"0": "2"},
        {"9": {"Position": 2}},
        {"-1": {"Position": 2}},
        {hostile.SQL: {"Position": 2}},
        {"0": {"Model": hostile.LINK}},
        "not edits",
        {"edited_rows": "x", "added_rows": [{"Position": 1}], "deleted_rows": [0]},
    ],
)
def test_hostile_grid_edits_move_nothing(demo_db, engine, signed_in, edited_rows):
    at = signed_in(page=ROUTING, modality="audio", task="tts")
    before = list(order_grid(at)["Model"])
    key = f"reorder_grid_{at.session_state['_reorder_grid']['round']}"
    at.session_state[key] = (
        edited_rows
        if not isinstance(edited_rows, dict) or "added_rows" in edited_rows
        else {"edited_rows": edited_rows}
    )
    at.run()
    assert not at.exception, at.exception
    assert list(order_grid(at)["Model"]) == before and at.button(key="reorder_save").disabled


@pytest.mark.parametrize("place", [0, -5, 2**80, "999"])
def test_a_position_beyond_either_end_goes_to_that_end(demo_db, signed_in, place):
    at = signed_in(page=ROUTING, modality="audio", task="tts")
    move(at, "OpenAI TTS-1", place)
    at_top = place in (0, -5)
    assert list(order_grid(at)["Model"]).index("OpenAI TTS-1") == (0 if at_top else 2)


def test_the_seed_example_row_can_be_moved_to_the_bottom(demo_db, engine, signed_in):
    at = signed_in(page=ROUTING, modality="image", task="generation")
    move(at, "SDXL 1.0", 6)
    assert list(order_grid(at)["Model"])[-1] == "SDXL 1.0"
    before = _priorities(engine)
    _save_order(at)
    assert _model(engine, "SDXL 1.0")["id"] == SDXL_ID
    assert _priorities(engine) == {**before, "SDXL 1.0": 10}  # the next number after the last (9); no one else moves


def test_cancelling_the_review_of_an_order_saves_nothing_and_keeps_the_order(demo_db, engine, signed_in):
    at = signed_in(page=ROUTING, modality="audio", task="tts")
    move(at, "Eleven Multilingual v2", 2)
    before = _priorities(engine, "tts", "audio")
    at.button(key="reorder_save").click().run()
    assert "Save this order of audio/tts? Saving changes 1 of 3 priorities; the other models keep theirs." in texts(at)
    at.button(key="reorder_confirm_no").click().run()
    assert not at.exception, at.exception
    assert _priorities(engine, "tts", "audio") == before
    assert not [b for b in at.button if b.key == "reorder_confirm_yes"]
    assert "go to OpenAI TTS-1 instead of Eleven Multilingual v2" in texts(at)  # the order being edited stays


# ─── A slot of thousands of models ─────────────────────────────────────────────────────────────
LARGE = 2_000


@pytest.fixture
def large_slot(demo_db, engine) -> str:
    """image/generation with LARGE models: the demo's six and the rest spread over two providers, one inactive."""
    live, dead = make_provider(engine), make_provider(engine, is_active=False)
    _db(
        engine,
        "insert into api_models (provider_id, model_key, display_name, modality, task, priority, is_active) "
        "select case when n % 10 = 0 then :dead else :live end, 'bulk/m-' || n, 'Bulk ' || lpad(n::text, 5, '0'), "
        "'image', 'generation', 10 + n, n % 7 <> 0 from generate_series(1, :count) n",
        live=live,
        dead=dead,
        count=LARGE - 6,
    )
    return demo_db


def _sent(at) -> int:
    """The bytes of every element the run drew (what Streamlit sends for them, near enough)."""

    def size(node) -> int:
        children = getattr(node, "children", None)
        if children:
            return sum(size(child) for child in children.values())
        proto = getattr(node, "proto", None)
        return proto.ByteSize() if proto is not None and hasattr(proto, "ByteSize") else 0

    return size(at._tree)


def test_a_slot_of_thousands_draws_one_page_of_widgets(large_slot, engine, signed_in):
    at = signed_in(page=ROUTING, modality="image", task="generation")
    assert not at.exception, at.exception
    assert len(at.button) < 10  # no buttons per model
    assert len(order_grid(at)) == 50 and list(order_grid(at)["Position"]) == list(range(1, 51))
    assert all(len(frame.value) <= 100 for frame in at.dataframe)
    assert "Showing the first 100 of 1,543 candidates" in texts(at)
    assert _sent(at) < 300_000
    at.number_input(key="reorder_page").set_value(3).run()
    assert list(order_grid(at)["Position"]) == list(range(101, 151))


def test_a_model_far_down_a_large_slot_is_found_moved_to_the_top_and_saved(large_slot, engine, signed_in):
    at = signed_in(page=ROUTING, modality="image", task="generation")
    at.text_input(key="reorder_find").input("m-1993").run()
    assert list(order_grid(at)["Model"]) == ["Bulk 01993"]
    assert list(order_grid(at)["Position"]) == [LARGE - 1]  # its place in the whole order
    move(at, "Bulk 01993", 1)
    assert "go to Bulk 01993 instead of SDXL 1.0" in texts(at)
    _save_order(at)  # every model of the slot is named: more than a bulk change may name
    assert not at.exception, at.exception
    assert "Saved the order of image/generation: 1 priority changed." in texts(at)
    assert _priorities(engine)["Bulk 01993"] == 0


def test_the_candidates_search_and_the_csv_of_every_model(large_slot, engine, signed_in, downloads):
    at = signed_in(page=ROUTING, modality="image", task="generation")
    at.text_input(key="r_find").input("BULK 0199").run()  # any case; name, provider or model id
    candidates, left_out = at.dataframe[0].value, at.dataframe[1].value
    assert set(candidates["Model"]) | set(left_out["Model"]) == {f"Bulk {n:05d}" for n in range(1990, 1995)}
    assert "Showing 4 matching candidates (1,543 in all)" in texts(at)
    at.text_input(key="r_find").input(hostile.SQL).run()
    assert not at.exception and "None of the 1,543 candidates matches" in texts(at)
    rows = list(csv.DictReader(io.StringIO(served(at, downloads)["Export CSV"].decode("utf-8-sig"))))
    assert len(rows) == LARGE  # every model, whatever the search shows
    assert [r["Role"] for r in rows[:2]] == ["picked", "fallback"] and rows[-1]["Role"] == "left out"


def test_the_review_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    _db(  # 14 jobs of SDXL 1.0 in the last 7 days: 2 a day at least
        engine,
        "insert into jobs (api_model_id, status, created_at) select :m, 'failed', date_trunc('hour', now()) "
        "- interval '3 days' from generate_series(1, 14)",
        m=SDXL_ID,
    )
    at = signed_in(page=ROUTING, modality="image", task="generation")
    move(at, "Flux 1.1 Pro", 1)
    at.button(key="reorder_save").click().run()
    assert not at.exception, at.exception
    moves = at.dataframe[-1].value
    row = moves[moves["From"] == "SDXL 1.0"].iloc[0]
    assert row["To"] == "Flux 1.1 Pro" and row["Jobs/day"] >= 2
    assert row["Failure rate"].split(" → ")[0] != "0.0%"  # SDXL's failures are in the mix before
