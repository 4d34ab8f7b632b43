"""Business rules the database itself enforces, whoever writes: one default a slot, updated_at, shapes."""

import time

import pytest
import sqlalchemy as sa

from tests.factories import make_model, make_provider


def _exec(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def test_a_second_default_in_one_slot_is_refused(engine):
    provider = make_provider(engine)
    make_model(engine, provider, is_default=True)
    with pytest.raises(sa.exc.IntegrityError, match="api_models_one_default_per_slot"):
        make_model(engine, provider, is_default=True)


def test_defaults_in_different_slots_coexist(engine):
    provider = make_provider(engine)
    make_model(engine, provider, is_default=True, task="generation")
    make_model(engine, provider, is_default=True, task="upscale")
    make_model(engine, provider, is_default=True, modality="video", task="generation")


def test_updated_at_moves_on_every_update(engine):
    model = make_model(engine)
    stamps = []
    for priority in (1, 2):
        time.sleep(0.01)
        stamps.append(
            _exec(
                engine, "update api_models set priority = :p where id = :id returning updated_at", p=priority, id=model
            ).scalar_one()
        )
    created = _exec(engine, "select created_at from api_models where id = :id", id=model).scalar_one()
    assert created < stamps[0] < stamps[1]


def test_updated_at_cannot_be_set_backwards_by_hand(engine):
    model = make_model(engine)
    stamp = _exec(
        engine, "update api_models set updated_at = '2000-01-01' where id = :id returning updated_at", id=model
    ).scalar_one()
    assert stamp.year > 2000


@pytest.mark.parametrize("modality", ["Image", "3d", "", "text; drop table api_models"])
def test_modality_outside_the_four_is_refused(engine, modality):
    with pytest.raises(sa.exc.IntegrityError, match="api_models_modality_check"):
        make_model(engine, modality=modality)


@pytest.mark.parametrize("column", ["input_defaults", "capabilities", "pricing"])
@pytest.mark.parametrize("value", ["[]", '"text"', "1", "null"])
def test_json_columns_hold_objects_only(engine, column, value):
    model = make_model(engine)
    with pytest.raises(sa.exc.IntegrityError):
        _exec(engine, f"update api_models set {column} = cast(:v as jsonb) where id = :id", v=value, id=model)


def test_blank_names_are_refused(engine):
    with pytest.raises(sa.exc.IntegrityError, match="not_blank"):
        make_model(engine, display_name="   ")


def test_priority_is_an_integer(engine):
    with pytest.raises(sa.exc.DataError):
        make_model(engine, priority="1.5")


def test_lower_priority_routes_first(engine):
    from dashboard.database import SERVICE_ROLE
    from dashboard.services import ModelService

    provider = make_provider(engine)
    make_model(engine, provider, display_name="Second", priority=5)
    make_model(engine, provider, display_name="First", priority=1)
    service = ModelService(engine, user_id=SERVICE_ROLE)
    assert [m["display_name"] for m in service.routing_candidates(modality="image", task="generation")] == [
        "First",
        "Second",
    ]
