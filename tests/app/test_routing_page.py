"""The Routing preview page: one slot's pick, fallbacks and exclusions, every slot at once, hostile URLs."""

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st

from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_model, make_provider

PAGE = "pages/routing.py"


def test_one_slot_shows_the_pick_fallbacks_and_the_left_out(demo_db, signed_in):
    at = signed_in(page=PAGE, modality="image", task="generation")
    assert not at.exception, at.exception
    candidates, left_out = at.dataframe[0].value, at.dataframe[1].value
    assert list(candidates["Model"])[:2] == ["SDXL 1.0", "Flux 1.1 Pro"]
    assert list(candidates["Role"])[:2] == ["picked", "fallback"]
    assert dict(zip(left_out["Model"], left_out["Why"], strict=True)) == {
        "Stable Diffusion 1.5": "provider Legacy Diffusion Cloud inactive",  # its display name, as on every page
        "Stable Diffusion 2.1": "model inactive",
    }
    assert "SDXL 1.0" in texts(at) and at.json[0].value  # the pick's input defaults


def test_every_slot_at_once_errors_first(demo_db, engine, signed_in):
    make_model(engine, make_provider(engine), modality="video", task="lip-sync", is_active=False)
    at = signed_in(page=PAGE)
    assert not at.exception
    summary = at.dataframe[0].value
    blocked = [("cannot be routed" in w) for w in summary["Warnings"]]
    assert blocked == sorted(blocked, reverse=True)  # the slots whose jobs cannot be routed come first
    assert "video/lip-sync" in set(summary["Slot"][blocked])
    assert at.metric[0].value == str(sum(blocked))
    assert "image/background-removal has 2 active model(s) but no default" in " ".join(summary["Warnings"])


def test_every_slot_at_once_sees_a_write_made_in_sql_on_the_next_click(demo_db, engine, signed_in):
    at = signed_in(page=PAGE)
    before = at.metric[0].value
    with engine.begin() as conn:  # another process takes every image/generation model out of routing
        conn.execute(
            sa.text("update api_models set is_active = false where modality = 'image' and task = 'generation'")
        )
    at.run()
    assert not at.exception, at.exception
    summary = at.dataframe[0].value
    assert int(at.metric[0].value) == int(before) + 1
    assert "image/generation" in set(summary["Slot"][["cannot be routed" in w for w in summary["Warnings"]]])
    st.cache_resource.clear()  # that slot alone was built again (ui/kept_reads.py): the same as a build from nothing
    pd.testing.assert_frame_equal(signed_in(page=PAGE).dataframe[0].value, summary)


def test_choosing_a_modality_then_a_task(demo_db, signed_in):
    at = signed_in(page=PAGE)
    at.selectbox(key="r_modality").set_value("audio").run()
    assert "Pick a task" in texts(at)
    at.selectbox(key="r_task").set_value("tts").run()
    assert list(at.dataframe[0].value["Model"])[0] == "Eleven Multilingual v2"
    assert at.query_params["task"] in ("tts", ["tts"])


@pytest.mark.parametrize(
    "query",
    [
        {"modality": "<script>", "task": "generation"},
        {"modality": "image", "task": "'; delete from api_models; --"},
        {"modality": "image", "task": "x" * 5000},
        {"modality": "image\x00", "task": "a\x00"},
    ],
)
def test_hostile_urls_change_nothing(demo_db, engine, signed_in, query):
    at = signed_in(page=PAGE, **query)
    assert not at.exception, at.exception
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models")).scalar_one() == 32


def test_hostile_names_are_text(demo_db, engine, signed_in):
    name = f"{hostile.LINK} {hostile.HTML}"
    make_model(engine, make_provider(engine), display_name=name, modality="audio", task="dub", is_default=True)
    at = signed_in(page=PAGE, modality="audio", task="dub")
    assert not at.exception
    assert name in texts(at) and hostile.markdown_problems(at.markdown[0].value) == []


def test_plain_users_are_not_given_the_page(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")
