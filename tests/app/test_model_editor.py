"""The model editor: load, validate live, diff, save, and every action, as admins and others."""

import sqlalchemy as sa

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_job, only_these_jobs

EDITOR = "pages/model_editor.py"
GOOD_PRICE = '{"per_image": 0.003, "currency": "USD", "billing_unit": "per_image"}'


def _open(signed_in, model_id=SDXL_ID, email="admin@example.com", **extra):
    return signed_in(email, page=EDITOR, id=str(model_id), **extra)


def _db(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _model_id(engine, name):
    return _db(engine, "select id from api_models where display_name = :n", n=name).scalar_one()


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_every_column_is_loaded_into_the_form(demo_db, signed_in):
    at = _open(signed_in)
    assert not at.exception
    assert at.text_input(key="ed_display_name").value == "SDXL 1.0"
    assert at.selectbox(key="ed_modality").value == "image"
    assert at.selectbox(key="ed_task").value == "generation"
    assert at.number_input(key="ed_priority").value == 1
    assert '"per_image": 0.0023' in at.text_area(key="ed_pricing").value
    assert "No changes yet." in texts(at)
    at.button(key="save").click().run()
    assert "Nothing to save" in texts(at)


def test_broken_json_points_at_the_line_and_blocks_saving(demo_db, signed_in):
    at = _open(signed_in)
    at.text_area(key="ed_pricing").input('{\n  "per_image": 0.003,\n  "currency": }').run()
    assert "pricing is not valid JSON" in texts(at) and "line 3" in texts(at)
    at.button(key="save").click().run()
    assert "Fix the problems above before saving." in texts(at)


def test_a_wrong_pricing_key_is_named(demo_db, signed_in):
    at = _open(signed_in)
    at.text_area(key="ed_pricing").input(
        '{"per_image": 0.003, "currency": "dollars", "billing_unit": "per_image"}'
    ).run()
    assert "pricing.currency must be a three-letter currency code" in texts(at)


def test_editing_pricing_shows_the_diff_and_saves(demo_db, engine, signed_in):
    at = _open(signed_in)
    at.text_area(key="ed_pricing").input(GOOD_PRICE).run()
    diff = at.dataframe[-1].value
    assert diff.to_dict("records") == [
        {"Field": "pricing.per_image", "Change": "changed", "Before": "0.0023", "After": "0.003"}
    ]
    at.button(key="save").click().run()
    assert not at.exception
    assert _db(engine, "select pricing from api_models where id = :i", i=SDXL_ID).scalar_one()["per_image"] == 0.003
    assert "Saved SDXL 1.0." in texts(at)


def test_a_failed_save_keeps_everything_typed(demo_db, engine, signed_in):
    at = _open(signed_in)
    at.text_input(key="ed_display_name").input("SDXL renamed").run()
    at.text_area(key="ed_pricing").input(GOOD_PRICE).run()
    _db(engine, "update api_providers set is_active = is_active")  # an unrelated write must not reload the form
    # the model is deleted under the editor's feet: saving fails, and nothing typed is lost
    _db(engine, "delete from jobs where api_model_id = :i", i=SDXL_ID)
    _db(engine, "delete from api_models where id = :i", i=SDXL_ID)
    at.button(key="save").click().run()
    assert not at.exception
    assert "deleted by someone else after you opened it" in texts(at)
    assert at.text_input(key="ed_display_name").value == "SDXL renamed"
    assert at.text_area(key="ed_pricing").value == GOOD_PRICE
    assert _db(engine, "select count(*) from api_models where display_name = 'SDXL renamed'").scalar_one() == 0
    at.button(key="save_new").click().run()  # only a deliberate second click saves it, as a new model
    saved = "select pricing->>'per_image' from api_models where display_name = 'SDXL renamed'"
    assert _db(engine, saved).scalar_one() == "0.003"


def test_hostile_text_is_refused_with_a_message(demo_db, signed_in):
    at = _open(signed_in)
    at.text_input(key="ed_display_name").input("x\x00y").run()
    assert "control characters" in texts(at)
    at.text_input(key="ed_display_name").input("ok").run()
    at.text_area(key="ed_capabilities").input('{"a":' * 50 + "1" + "}" * 50).run()
    assert "nested more than" in texts(at)
    at.button(key="save").click().run()
    assert "Fix the problems above before saving." in texts(at)


def test_markdown_in_a_name_is_shown_literally(demo_db, engine, signed_in):
    _db(engine, "update api_models set display_name = :n where id = :i", n="[x](javascript:alert(1))", i=SDXL_ID)
    at = _open(signed_in)
    # (a word joiner after ':' may break the autolink pattern too: it shows as nothing)
    assert at.title[0].value.replace("\u2060", "") == "\\[x\\]\\(javascript\\:alert\\(1\\)\\)"


def test_a_new_model_with_a_new_task(demo_db, engine, signed_in):
    at = signed_in(page=EDITOR, new="1")
    assert at.title[0].value == "New model"
    at.text_input(key="ed_display_name").input("Upscaler 9000").run()
    at.text_input(key="ed_model_key").input("acme/upscaler-9000").run()
    at.selectbox(key="ed_provider").select_index(0).run()
    at.selectbox(key="ed_task").select("➕ New task…").run()
    at.text_input(key="ed_new_task").input("super-resolution").run()
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    row = _db(
        engine, "select task, created_by is not null from api_models where model_key = 'acme/upscaler-9000'"
    ).one()
    assert row == ("super-resolution", True)


def test_make_default_asks_first_and_says_what_it_replaced(demo_db, engine, signed_in):
    flux = _model_id(engine, "Flux 1.1 Pro")
    at = _open(signed_in, flux)
    _button(at, "Make default").click().run()
    assert "replacing SDXL 1.0" in texts(at)
    assert _db(engine, "select is_default from api_models where id = :i", i=flux).scalar_one() is False
    _button(at, "Confirm").click().run()
    assert not at.exception
    assert "it replaced SDXL 1.0" in texts(at)
    defaults = (
        _db(
            engine,
            "select display_name from api_models where is_default and task = 'generation' and modality = 'image'",
        )
        .scalars()
        .all()
    )
    assert defaults == ["Flux 1.1 Pro"]


def test_delete_is_refused_while_jobs_reference_the_model_and_offers_to_deactivate(demo_db, engine, signed_in):
    at = _open(signed_in)
    _button(at, "Delete").click().run()
    _button(at, "Delete").click().run()  # the confirmation's own Delete
    assert "cannot be deleted; deactivate it instead" in texts(at)
    _button(at, "Deactivate instead").click().run()
    assert _db(engine, "select is_active from api_models where id = :i", i=SDXL_ID).scalar_one() is False


def test_delete_without_jobs_after_confirming(demo_db, engine, signed_in):
    victim = _model_id(engine, "BiRefNet")
    _db(engine, "delete from jobs where api_model_id = :i", i=victim)
    at = _open(signed_in, victim)
    _button(at, "Delete").click().run()
    _button(at, "Cancel").click().run()
    assert _db(engine, "select count(*) from api_models where id = :i", i=victim).scalar_one() == 1
    _button(at, "Delete").click().run()
    _button(at, "Delete").click().run()
    assert not at.exception
    assert _db(engine, "select count(*) from api_models where id = :i", i=victim).scalar_one() == 0


def test_a_concurrent_edit_is_refused_and_can_be_reapplied(demo_db, engine, signed_in):
    at = _open(signed_in)
    at.number_input(key="ed_priority").set_value(7).run()
    _db(engine, "update api_models set model_family = 'SDXL-base' where id = :i", i=SDXL_ID)  # someone else
    at.button(key="save").click().run()
    assert "Someone else saved this model" in texts(at)
    assert _db(engine, "select priority from api_models where id = :i", i=SDXL_ID).scalar_one() == 1
    _button(at, "Reapply my edits on the latest version").click().run()
    assert at.number_input(key="ed_priority").value == 7
    assert at.text_input(key="ed_model_family").value == "SDXL-base"
    at.button(key="save").click().run()
    assert _db(engine, "select priority, model_family from api_models where id = :i", i=SDXL_ID).one() == (
        7,
        "SDXL-base",
    )


def test_duplicate_prefills_a_new_version(demo_db, signed_in):
    at = _open(signed_in)
    _button(at, "Duplicate as a new version").click().run()
    assert at.title[0].value == "New model"
    assert at.text_input(key="ed_model_key").value.startswith("stability-ai/sdxl")
    assert at.text_input(key="ed_version").value == ""
    assert at.toggle(key="ed_is_default").value is False


def test_an_unknown_or_malformed_id_says_so(demo_db, signed_in):
    for bad in ("00000000-0000-0000-0000-000000000000", "'; drop table api_models; --"):
        at = _open(signed_in, bad)
        assert not at.exception
        assert "Go back to the list" in texts(at) or "not a valid id" in texts(at)


def test_without_an_id_the_editor_offers_a_picker(demo_db, signed_in):
    at = signed_in(page=EDITOR)
    assert not at.exception
    assert at.selectbox[0].label == "Open a model"


def test_a_plain_user_never_gets_the_editor(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    try:
        at.switch_page(EDITOR).run()
    except Exception:  # an unregistered page cannot even be switched to
        return
    assert "Model editor" not in texts(at) and not [b for b in at.button if b.label == "Save"]


def test_a_revoked_admin_loses_the_editor_on_the_next_click(demo_db, engine, signed_in):
    at = _open(signed_in)
    _db(engine, "delete from user_roles where user_id = (select id from auth.users where email = 'admin@example.com')")
    at.number_input(key="ed_priority").set_value(3).run()
    assert not [b for b in at.button if b.label == "Save"]
    assert _db(engine, "select priority from api_models where id = :i", i=SDXL_ID).scalar_one() == 1


def test_jobs_factory_still_blocks_deletes_of_new_models(demo_db, engine, signed_in):
    model = _model_id(engine, "RemBG")
    make_job(engine, model)
    at = _open(signed_in, model)
    _button(at, "Delete").click().run()
    _button(at, "Delete").click().run()
    assert "job(s) reference this model" in texts(at)


def test_on_an_empty_database_a_new_model_asks_for_a_provider_first(empty_db, engine, signed_in):
    from tests.factories import make_user

    make_user(engine, "admin", email="solo@example.com")
    at = signed_in("solo@example.com", page=EDITOR, new="1")
    assert not at.exception
    assert "There is no provider yet" in texts(at)
    at.text_input(key="ed_display_name").input("First model").run()
    at.text_input(key="ed_model_key").input("acme/first").run()
    at.button(key="save").click().run()
    assert not at.exception
    assert "provider is required" in texts(at) and "provider_id" not in texts(at)  # the form's own label
    assert _db(engine, "select count(*) from api_models").scalar_one() == 0


def test_edits_wait_while_the_person_visits_another_page(demo_db, engine, signed_in):
    with engine.connect() as conn:
        model = conn.execute(sa.text("select id from api_models where display_name = 'SDXL 1.0'")).scalar_one()
    at = signed_in(page="pages/model_editor.py", id=str(model))
    at.text_input(key="ed_display_name").set_value("SDXL draft").run()
    at.switch_page("../../pages/models.py").run()  # the editor's widgets are not drawn in this run
    at.switch_page("../../pages/defaults.py").run()
    at.query_params["id"] = str(model)
    at.switch_page("../../pages/model_editor.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key="ed_display_name").value == "SDXL draft"
    assert at.selectbox(key="ed_task").value == "generation"


def test_discard_changes_asks_first_then_starts_again_from_the_database(demo_db, engine, signed_in):
    at = _open(signed_in)
    at.text_input(key="ed_display_name").input("SDXL renamed").run()
    at.button(key="discard").click().run()
    assert "Discard your changes?" in texts(at)
    at.button(key="discard_no").click().run()  # Cancel keeps every edit
    assert at.text_input(key="ed_display_name").value == "SDXL renamed"
    at.button(key="discard").click().run()
    at.button(key="discard_yes").click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="ed_display_name").value == "SDXL 1.0"
    assert "No changes yet." in texts(at)
    assert not [b for b in at.button if b.key == "discard"]  # nothing left to discard
    assert _db(engine, "select display_name from api_models where id = :i", i=SDXL_ID).scalar_one() == "SDXL 1.0"


def test_problems_are_marked_at_their_fields_with_the_forms_labels(demo_db, signed_in):
    at = _open(signed_in)
    at.text_input(key="ed_model_key").input(hostile.NUL).run()
    at.text_input(key="ed_display_name").input(hostile.RLO).run()
    at.text_area(key="ed_pricing").input('{"per_image": -1, "currency": "usd", "billing_unit": "per_image"}').run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("model key contains") for e in errors)  # under the field, by its label
    assert any(e.startswith("display name contains control characters") for e in errors)
    said = texts(at)
    assert "pricing.per_image must be a non-negative number" in said and "pricing.currency must be" in said
    at.button(key="save").click().run()
    assert "Fix the problems above before saving." in texts(at)


def _traffic(at):
    """The review's table of the traffic that would move (History and Usage below it have tables too)."""
    return next(d.value for d in at.dataframe if "Jobs/day" in d.value.columns)


def test_a_save_that_makes_the_model_the_pick_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    _db(engine, "update api_models set display_name = :n where display_name = 'XTTS v2'", n=hostile.HTML)
    jobs = {"Eleven Multilingual v2": (12, 2), "OpenAI TTS-1": (7, 0), hostile.HTML: (3, 1)}
    only_these_jobs(engine, "audio/tts", **jobs)
    at = _open(signed_in, _model_id(engine, hostile.HTML))
    at.number_input(key="ed_priority").set_value(0).run()  # ahead of the default's 1: it becomes the pick
    assert not at.exception, at.exception
    assert "Traffic that would move, from the last 7 days' jobs" in texts(at)
    # Only the pick's 14 jobs move (2 a day); the others' own jobs stay where they were asked for by name.
    [row] = _traffic(at).to_dict("records")
    spend = row.pop("Spend/day")
    assert row == {
        "Slot": "audio/tts",
        "Jobs/day": 2.0,
        "From": "Eleven Multilingual v2",
        "To": hostile.HTML,
        "Failure rate": "12.0% → 18.0%",  # 3 of 25 failed; then 14 + 4 at the new pick's own 1 in 4
        "Rating": "no history → no history",
    }
    # Per-character and per-second prices without a length in input_defaults cannot be costed: named, never 0
    # (in the database's order of names, which its collation decides).
    before, after = (set(side.split(", ")) for side in spend.split(" → "))
    assert before == {f"{n} (cannot be costed)" for n in (hostile.HTML, "Eleven Multilingual v2", "OpenAI TTS-1")}
    assert after == {f"{n} (cannot be costed)" for n in (hostile.HTML, "OpenAI TTS-1")}
    assert _db(engine, "select priority from api_models where display_name = :n", n=hostile.HTML).scalar_one() == 3


def test_a_save_that_deactivates_the_pick_shows_where_its_traffic_would_go(demo_db, engine, signed_in):
    esrgan = _model_id(engine, "Real-ESRGAN 4×")
    _db(engine, "update api_models set display_name = :n where id = :i", n=hostile.HTML, i=esrgan)
    _db(engine, "update api_models set display_name = :n where display_name = 'Clarity Upscaler'", n=hostile.SCRIPT)
    only_these_jobs(engine, "image/upscale", **{hostile.HTML: (63, 7), hostile.SCRIPT: (7, 0)})
    at = _open(signed_in, esrgan)
    at.toggle(key="ed_is_active").set_value(False).run()
    assert not at.exception, at.exception
    assert "Traffic that would move, from the last 7 days' jobs" in texts(at)
    moves = _traffic(at)
    assert moves.to_dict("records") == [
        {
            "Slot": "image/upscale",
            "Jobs/day": 10.0,  # the pick's 70 jobs over 7 days
            "From": hostile.HTML,
            "To": hostile.SCRIPT,
            # 63 x 0.0011 + 7 x 0.03 a week, then all 70 completed at 0.03
            "Spend/day": "0.04 USD → 0.30 USD",
            "Failure rate": "9.1% → 0.0%",  # 7 of 77 failed; then the receiving model's own 0 of 7
            "Rating": "no history → no history",
        }
    ]
    assert _db(engine, "select is_active from api_models where id = :i", i=esrgan).scalar_one() is True
