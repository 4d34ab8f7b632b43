"""ModelService: management operations, their named errors, and hostile input, as real people under RLS."""

import pytest
import sqlalchemy as sa

from dashboard.services import (
    EditConflict,
    InvalidModel,
    ModelInUse,
    ModelNotFound,
    ModelService,
    NotAllowed,
)
from tests import hostile
from tests.concurrency import run_together
from tests.factories import make_job, make_model, make_provider, make_user


@pytest.fixture
def provider(engine):
    return make_provider(engine)


@pytest.fixture
def admin(engine):
    return ModelService(engine, user_id=make_user(engine, "admin"))


@pytest.fixture
def viewer(engine):
    return ModelService(engine, user_id=make_user(engine, "user"))


def _fields(provider, **overrides):
    return {
        "provider_id": provider,
        "model_key": "acme/model",
        "display_name": "Acme",
        "modality": "image",
        "task": "generation",
        **overrides,
    }


def test_create_fills_the_seed_defaults_and_the_creator(admin, provider):
    model = admin.create_model(_fields(provider))
    assert (model["is_active"], model["is_default"], model["priority"]) == (True, False, 0)
    assert model["input_defaults"] == model["capabilities"] == model["pricing"] == {}
    assert model["created_by"] == admin.user_id
    assert model["row_version"]


def test_create_keeps_json_exactly(admin, provider):
    pricing = {"per_image": 0.0023, "currency": "USD", "billing_unit": "per_image"}
    inputs = {"prompt": "", "width": 1024, "guidance_scale": 7.5, "nested": {"list": [1, "two", None]}}
    model = admin.create_model(_fields(provider, pricing=pricing, input_defaults=inputs))
    assert admin.get_model(model["id"])["pricing"] == pricing
    assert admin.get_model(model["id"])["input_defaults"] == inputs


def test_a_plain_user_cannot_create(viewer, provider):
    with pytest.raises(NotAllowed):
        viewer.create_model(_fields(provider))


def test_a_plain_user_cannot_update_or_delete_and_is_told_so(engine, viewer, provider):
    model = make_model(engine, provider)
    with pytest.raises(NotAllowed):
        viewer.update_model(model, {"priority": 3})
    with pytest.raises(NotAllowed):
        viewer.delete_model(model)
    with pytest.raises(NotAllowed):
        viewer.set_default(model)


def test_a_plain_user_cannot_see_an_inactive_model(engine, viewer, provider):
    model = make_model(engine, provider, is_active=False)
    with pytest.raises(ModelNotFound):
        viewer.get_model(model)


def test_update_changes_only_what_is_given(admin, provider):
    model = admin.create_model(_fields(provider, version="1"))
    updated = admin.update_model(model["id"], {"priority": 7})
    assert (updated["priority"], updated["version"], updated["display_name"]) == (7, "1", "Acme")
    assert updated["updated_at"] > model["updated_at"]


def test_update_with_a_stale_version_is_refused_and_writes_nothing(admin, provider):
    model = admin.create_model(_fields(provider))
    admin.update_model(model["id"], {"priority": 1}, expected_version=model["row_version"])
    with pytest.raises(EditConflict, match="changed by someone else"):
        admin.update_model(model["id"], {"priority": 2}, expected_version=model["row_version"])
    assert admin.get_model(model["id"])["priority"] == 1


def test_update_of_a_deleted_model_says_it_is_gone(admin, provider):
    model = admin.create_model(_fields(provider))
    admin.delete_model(model["id"])
    with pytest.raises(ModelNotFound, match="deleted"):
        admin.update_model(model["id"], {"priority": 1})


def test_set_default_replaces_the_current_one_and_says_which(admin, provider):
    first = admin.create_model(_fields(provider, display_name="First", is_default=True))
    second = admin.create_model(_fields(provider, display_name="Second"))
    replaced = admin.set_default(second["id"])
    assert replaced["display_name"] == "First"
    assert admin.get_model(first["id"])["is_default"] is False
    assert admin.get_model(second["id"])["is_default"] is True
    assert admin.set_default(second["id"]) is None


def test_creating_a_default_replaces_the_slots_default(admin, provider):
    first = admin.create_model(_fields(provider, is_default=True))
    admin.create_model(_fields(provider, model_key="acme/two", is_default=True))
    assert admin.get_model(first["id"])["is_default"] is False


def test_moving_a_default_to_another_slot_replaces_that_slots_default(admin, provider):
    upscaler = admin.create_model(_fields(provider, task="upscale", is_default=True))
    mover = admin.create_model(_fields(provider, is_default=True))
    admin.update_model(mover["id"], {"task": "upscale"})
    assert admin.get_model(upscaler["id"])["is_default"] is False


def test_an_inactive_model_cannot_become_default(admin, provider):
    model = admin.create_model(_fields(provider, is_active=False))
    with pytest.raises(InvalidModel, match="activate it first"):
        admin.set_default(model["id"])


def test_deactivating_takes_a_model_out_of_routing(admin, provider):
    model = admin.create_model(_fields(provider))
    admin.set_active(model["id"], False)
    assert admin.routing_candidates(modality="image", task="generation") == []


def test_delete_is_refused_while_jobs_reference_the_model(engine, admin, provider):
    model = admin.create_model(_fields(provider))
    make_job(engine, model["id"])
    make_job(engine, model["id"])
    with pytest.raises(ModelInUse, match="2 job") as caught:
        admin.delete_model(model["id"])
    assert caught.value.job_count == 2
    assert admin.get_model(model["id"])


def test_jobs_are_looked_for_before_a_delete_is_asked_for(engine, admin, provider):
    model = admin.create_model(_fields(provider, display_name=hostile.SQL))
    assert admin.jobs_referencing(model["id"]) == 0
    admin.check_deletable(model["id"])  # nothing references it: no error
    make_job(engine, model["id"])
    assert admin.jobs_referencing(model["id"]) == 1
    with pytest.raises(ModelInUse, match="1 job") as caught:
        admin.check_deletable(model["id"])
    assert caught.value.job_count == 1
    assert admin.get_model(model["id"])  # a check writes nothing
    with pytest.raises(InvalidModel):
        admin.jobs_referencing(hostile.SQL)


def test_unknown_provider_is_a_field_error(admin):
    with pytest.raises(InvalidModel) as caught:
        admin.create_model(_fields("00000000-0000-0000-0000-000000000000"))
    assert "provider_id" in caught.value.problems


def test_invalid_fields_are_all_named_at_once(admin, provider):
    with pytest.raises(InvalidModel) as caught:
        admin.create_model(_fields(provider, modality="smell", task="Image Gen", pricing="[1]", priority="high"))
    assert set(caught.value.problems) == {"modality", "task", "pricing", "priority"}


def test_a_non_uuid_id_is_a_clear_error_not_a_database_error(admin):
    with pytest.raises(InvalidModel):
        admin.get_model("1; drop table api_models")


@pytest.mark.parametrize("text", hostile.TEXT)
def test_hostile_text_is_stored_literally_and_harms_nothing(admin, provider, text):
    model = admin.create_model(_fields(provider, display_name=text, model_family=text))
    assert admin.get_model(model["id"])["display_name"] == text.strip()
    assert len(admin.list_active_models()) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"display_name": hostile.NUL},
        {"display_name": hostile.RLO},
        {"model_key": hostile.ESCAPE},
        {"model_family": hostile.ZERO_WIDTH},
        {"display_name": "x" * 10_000},
        {"input_defaults": {"a": "nul\x00"}},
        {"capabilities": {"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}},
        {"pricing": {"per_image": -1, "currency": "USD", "billing_unit": "per_image"}},
        {"priority": 2**40},
    ],
)
def test_hostile_values_are_refused_and_change_nothing(admin, provider, fields):
    with pytest.raises(InvalidModel):
        admin.create_model(_fields(provider, **fields))
    assert admin.list_active_models() == []


def test_concurrent_make_default_clicks_leave_exactly_one_default(engine, admin, provider):
    ids = [admin.create_model(_fields(provider, model_key=f"acme/{n}"))["id"] for n in range(6)]
    for _round in range(5):
        _results, errors = run_together(lambda i: ModelService(engine, user_id=admin.user_id).set_default(i), ids)
        assert errors == []
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from api_models where is_default")).scalar() == 1


def test_a_model_of_an_inactive_provider_cannot_become_default(engine, admin):
    dormant = make_provider(engine, is_active=False, display_name="Dormant Cloud")
    model = admin.create_model(_fields(dormant))
    with pytest.raises(InvalidModel, match="provider Dormant Cloud is inactive"):
        admin.set_default(model["id"])
    with pytest.raises(InvalidModel, match="provider Dormant Cloud is inactive"):
        admin.update_model(model["id"], {"is_default": True})


def test_concurrent_saves_of_one_opened_version_let_exactly_one_through(engine, admin, provider):
    """Admins who opened the same version all press Save at once, many times over: one wins, the rest are told."""
    model = admin.create_model(_fields(provider))
    for round_ in range(20):
        opened = admin.get_model(model["id"])
        edits = [{"display_name": f"Round {round_} by {who}", "priority": who} for who in range(5)]
        version = opened["row_version"]
        saved, errors = run_together(
            lambda edit, version=version: ModelService(engine, user_id=admin.user_id).update_model(
                model["id"], edit, expected_version=version
            ),
            edits,
        )
        assert len(saved) == 1 and len(errors) == 4 and all(isinstance(e, EditConflict) for e in errors), errors
        now = admin.get_model(model["id"])
        assert (now["display_name"], now["priority"]) == (saved[0]["display_name"], saved[0]["priority"])
    with engine.connect() as conn:
        updates = conn.execute(
            sa.text("select count(*) from dashboard.audit_log where row_id = :i and action = 'update'"),
            {"i": model["id"]},
        ).scalar_one()
    assert updates == 20  # every accepted save, and only those, is in the history
