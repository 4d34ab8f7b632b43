"""The model editor when the page did not finish drawing: a save changes only what the person edited.

How it broke (issue 12): a person typed into Display name as soon as it appeared, before the rest of the form
was drawn, and saved. Widgets not drawn yet had no value in session_state, so a form read back from its widgets
got their defaults: the JSON fields became {}, and the model moved to the first provider, the first modality
and task, at priority -2147483648. "Reapply my edits" after a conflict reached the same state. These tests
build that state on purpose: the first run stops right after Display name, and the state of every widget below
it is gone, then the person types and saves.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from streamlit.elements.widgets.text_widgets import TextWidgetsMixin
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_model, make_provider

EDITOR = "pages/model_editor.py"
COLUMNS = (
    "display_name",
    "model_key",
    "version",
    "model_family",
    "provider_id",
    "modality",
    "task",
    "priority",
    "is_active",
    "is_default",
    "endpoint_path",
    "output_format",
    "input_defaults",
    "capabilities",
    "pricing",
)
# Every widget of the form below Display name.
LOWER_WIDGETS = (
    "ed_model_key",
    "ed_provider",
    "ed_version",
    "ed_model_family",
    "ed_modality",
    "ed_task",
    "ed_new_task",
    "ed_priority",
    "ed_is_active",
    "ed_is_default",
    "ed_endpoint_path",
    "ed_output_format",
    "ed_input_defaults",
    "ed_capabilities",
    "ed_pricing",
)


def _db(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _row(engine, model_id):
    return dict(_db(engine, f"select {', '.join(COLUMNS)} from api_models where id = :i", i=model_id).one()._mapping)


def _audited_fields(engine, model_id):
    """The fields the last audited update of the model changed (updated_at aside)."""
    return set(
        _db(
            engine,
            """
        select array(select n.key from jsonb_each(a.new_row) n
                     where n.value is distinct from a.old_row -> n.key and n.key <> 'updated_at' order by 1)
        from dashboard.audit_log a where a.row_id = :i and a.action = 'update' order by a.id desc limit 1
    """,
            i=model_id,
        ).scalar_one()
    )


def _slot_defaults(engine, modality, task):
    sql = "select id from api_models where modality = :m and task = :t and is_default"
    return _db(engine, sql, m=modality, t=task).scalars().all()


@pytest.fixture
def interrupted(monkeypatch):
    """The next editor run stops right after Display name is drawn, as a run a keystroke interrupted does."""
    original = TextWidgetsMixin.text_input
    armed = {"on": True}

    def text_input(self, label, *args, **kwargs):
        if armed["on"] and kwargs.get("key") == "ed_model_key":
            armed["on"] = False
            raise StopException()
        return original(self, label, *args, **kwargs)

    monkeypatch.setattr(TextWidgetsMixin, "text_input", text_input)
    return armed


def _forget_lower_widgets(at):
    """What Streamlit may have for widgets a run did not draw: nothing. (Call after an interrupted run: AppTest
    reads back the state of every widget the last run drew.)"""
    for key in LOWER_WIDGETS:
        if key in at.session_state:
            del at.session_state[key]


def _changed_fields(at):
    """The fields of the editor's table of changes (the first table with Field and Change columns)."""
    table = next(d.value for d in at.dataframe if list(d.value.columns)[:2] == ["Field", "Change"])
    return list(table["Field"])


def _type_name_and_save(at, name):
    at.text_input(key="ed_display_name").set_value(name).run()
    assert not at.exception, at.exception
    at.button(key="save").click().run()
    assert not at.exception, at.exception


@pytest.fixture
def odd_model(engine):
    """A model nothing about which is a widget default: provider not the first, modality and task not the
    first, a priority that is not 0, non-empty JSON, and the default of its slot."""
    provider = make_provider(engine, display_name="Zeta Cloud", name="zeta")
    return make_model(
        engine,
        provider,
        display_name="Zeta Video",
        model_key="zeta/video-1",
        modality="video",
        task="frame-interpolation",
        priority=42,
        is_default=True,
        version="2.1",
        model_family="zeta",
        endpoint_path="/v1/video",
        output_format="video/mp4",
        input_defaults={"prompt": "", "fps": 24, "num_frames": 96},
        capabilities={"supports_audio": False, "max_duration": 8},
        pricing={"per_second": 0.05, "currency": "EUR", "billing_unit": "per_second"},
    )


def test_typing_before_the_form_is_drawn_saves_only_the_name(demo_db, engine, signed_in, interrupted):
    before = _row(engine, SDXL_ID)
    at = signed_in(page=EDITOR, id=str(SDXL_ID))  # the editor's first run stops after Display name
    assert not interrupted["on"] and not at.text_area  # the JSON fields were never drawn
    _forget_lower_widgets(at)
    _type_name_and_save(at, "SDXL typed early")
    assert "Saved SDXL typed early." in texts(at)
    assert _row(engine, SDXL_ID) == {**before, "display_name": "SDXL typed early"}
    assert _audited_fields(engine, SDXL_ID) == {"display_name"}


def test_a_deep_link_to_an_unusual_model_keeps_everything_but_the_name(
    demo_db, engine, signed_in, interrupted, odd_model
):
    before = _row(engine, odd_model)
    at = signed_in(page=EDITOR, id=str(odd_model))
    _forget_lower_widgets(at)
    at.text_input(key="ed_display_name").set_value("Zeta Video 2").run()
    # Every widget drawn after the interruption shows the model, not a default.
    assert at.selectbox(key="ed_provider").options[0] != "Zeta Cloud"  # not the first provider, yet shown
    assert at.selectbox(key="ed_provider").value == str(before["provider_id"])
    assert at.selectbox(key="ed_modality").value == "video"
    assert at.selectbox(key="ed_task").value == "frame-interpolation"
    assert at.number_input(key="ed_priority").value == 42
    assert json.loads(at.text_area(key="ed_pricing").value) == before["pricing"]
    assert _changed_fields(at) == ["display_name"]
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    assert _row(engine, odd_model) == {**before, "display_name": "Zeta Video 2"}
    assert _audited_fields(engine, odd_model) == {"display_name"}
    assert _slot_defaults(engine, "video", "frame-interpolation") == [odd_model]


def test_widget_state_lost_after_a_full_run_is_drawn_from_the_draft(demo_db, engine, signed_in, odd_model, interrupted):
    before = _row(engine, odd_model)
    interrupted["on"] = False
    at = signed_in(page=EDITOR, id=str(odd_model))  # drawn in full once
    interrupted["on"] = True
    at.run()  # then a run stops after Display name, and Streamlit forgets the widgets below
    _forget_lower_widgets(at)
    _type_name_and_save(at, "Zeta renamed")
    assert _row(engine, odd_model) == {**before, "display_name": "Zeta renamed"}


def test_reapply_after_a_conflict_keeps_their_changes_and_the_slot(demo_db, engine, signed_in, interrupted):
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    _forget_lower_widgets(at)
    at.text_input(key="ed_display_name").set_value("SDXL mine").run()
    # Someone else saves meanwhile: another family and price.
    _db(
        engine,
        "update api_models set model_family = 'SDXL-base', "
        "pricing = jsonb_set(pricing, '{per_image}', '0.004') where id = :i",
        i=SDXL_ID,
    )
    theirs = _row(engine, SDXL_ID)
    at.button(key="save").click().run()
    assert "Someone else saved this model" in texts(at)
    assert _row(engine, SDXL_ID) == theirs
    next(b for b in at.button if b.label == "Reapply my edits on the latest version").click().run()
    assert not at.exception, at.exception
    interrupted["on"] = True
    at.run()  # and the page is interrupted once more before saving
    _forget_lower_widgets(at)
    at.run()
    assert _changed_fields(at) == ["display_name"]
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    assert _row(engine, SDXL_ID) == {**theirs, "display_name": "SDXL mine"}
    assert _audited_fields(engine, SDXL_ID) == {"display_name"}
    assert _slot_defaults(engine, "image", "generation") == [SDXL_ID]


HOSTILE_NAME = "**bold** [x](javascript:alert(1))\n# Heading\n<script>alert(1)</script>"
HOSTILE_JSON = hostile.JSON_OBJECT


def test_a_hostile_row_written_in_sql_loads_and_saves_without_losing_anything(demo_db, engine, signed_in, interrupted):
    _db(
        engine,
        "update api_models set display_name = :n, capabilities = cast(:j as jsonb), "
        "input_defaults = cast(:j as jsonb) where id = :i",
        n=HOSTILE_NAME,
        j=json.dumps(HOSTILE_JSON),
        i=SDXL_ID,
    )
    before = _row(engine, SDXL_ID)
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    _forget_lower_widgets(at)
    at.run()
    assert not at.exception, at.exception
    assert json.loads(at.text_area(key="ed_capabilities").value) == HOSTILE_JSON
    assert "kept exactly as it is unless you edit it" in texts(at)  # deeper than today's checks allow: said
    at.button(key="save").click().run()
    assert "Nothing to save: nothing differs." in texts(at)
    at.number_input(key="ed_priority").set_value(5).run()
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    assert _row(engine, SDXL_ID) == {**before, "priority": 5}
    assert _audited_fields(engine, SDXL_ID) == {"priority"}


def test_a_change_nobody_made_in_the_form_is_flagged_and_needs_confirming(demo_db, engine, signed_in):
    before = _row(engine, SDXL_ID)
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    at.text_input(key="ed_display_name").set_value("SDXL flagged").run()
    # However it got there (a bug, a merge): a field the person never touched differs in what would be saved.
    at.session_state["_editor_forms"][str(SDXL_ID)].draft.update(priority=9, task="upscale")
    at.run()
    assert "You did not edit: task, priority." in texts(at)
    assert "SDXL flagged moves from image/generation to image/upscale: jobs for image/generation no longer" in texts(at)
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    assert _row(engine, SDXL_ID) == before  # asked, not saved
    assert "Saving would change them too" in texts(at)
    at.button(key="save_confirmed").click().run()
    assert not at.exception, at.exception
    assert _row(engine, SDXL_ID) == {**before, "display_name": "SDXL flagged", "priority": 9, "task": "upscale"}


def test_an_incomplete_draft_is_refused_with_a_message(demo_db, engine, signed_in):
    before = _row(engine, SDXL_ID)
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    at.text_input(key="ed_display_name").set_value("SDXL incomplete").run()
    del at.session_state["_editor_forms"][str(SDXL_ID)].draft["pricing"]
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    assert "The form is not complete (no value for pricing), so nothing was saved." in texts(at)
    assert _row(engine, SDXL_ID) == before


def test_moving_the_default_to_another_slot_is_called_out_before_saving(demo_db, engine, signed_in):
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    at.selectbox(key="ed_modality").set_value("video").run()
    said = texts(at)
    assert "SDXL 1.0 moves from image/generation to video/generation: jobs for image/generation no longer" in said
    assert "image/generation is left without a default: SDXL 1.0 stops being its default" in said
    assert "You did not edit" not in said  # the person moved it: no confirmation needed
