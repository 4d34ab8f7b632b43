"""save_draft on a real database, as an admin under RLS: what it writes, and what it refuses to."""

import json

import pytest
import sqlalchemy as sa

from dashboard.services import ModelService
from dashboard.services.editing import draft_from_row, save_draft
from tests.factories import make_model, make_provider, make_user

DEEP = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": "bottom"}}}}}}}}}}


@pytest.fixture
def admin(engine):
    return ModelService(engine, user_id=make_user(engine, "admin"))


@pytest.fixture
def model(engine):
    return make_model(
        engine,
        make_provider(engine),
        display_name="Acme",
        modality="video",
        task="image-to-video",
        priority=7,
        is_default=True,
        input_defaults={"fps": 24},
        pricing={"per_second": 0.05, "currency": "EUR", "billing_unit": "per_second"},
    )


def _raw(engine, model_id):
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("select to_jsonb(m) - 'updated_at' from api_models m where id = :i"), {"i": model_id}
        ).scalar_one()
    return row


def test_only_the_edited_field_is_written(engine, admin, model):
    opened = admin.get_model(model)
    before = _raw(engine, model)
    result = save_draft(admin, {**draft_from_row(opened), "display_name": "Acme 2"}, opened, {"display_name"})
    assert result.status == "saved"
    assert _raw(engine, model) == {**before, "display_name": "Acme 2"}


def test_someone_elses_save_in_between_is_a_conflict_and_nothing_is_written(engine, admin, model):
    opened = admin.get_model(model)
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set model_family = 'theirs' where id = :i"), {"i": model})
    before = _raw(engine, model)
    result = save_draft(admin, {**draft_from_row(opened), "priority": 1}, opened, {"priority"})
    assert result.status == "conflict"
    assert _raw(engine, model) == before


def test_an_incomplete_or_unconfirmed_draft_writes_nothing(engine, admin, model):
    opened = admin.get_model(model)
    before = _raw(engine, model)
    partial = {k: v for k, v in draft_from_row(opened).items() if k not in ("pricing", "provider_id")}
    assert save_draft(admin, {**partial, "display_name": "Half"}, opened, {"display_name"}).status == "incomplete"
    widget_defaults = {**draft_from_row(opened), "display_name": "X", "input_defaults": "{}", "priority": -(2**31)}
    result = save_draft(admin, widget_defaults, opened, {"display_name"})
    assert (result.status, result.unedited) == ("confirm", ["input_defaults", "priority"])
    assert _raw(engine, model) == before


def test_a_row_written_in_sql_keeps_what_todays_checks_would_refuse(engine, admin, model):
    name = "line one\nline **two** [x](javascript:alert(1))"
    with engine.begin() as conn:
        conn.execute(
            sa.text("update api_models set display_name = :n, capabilities = cast(:c as jsonb) where id = :i"),
            {"n": name, "c": json.dumps({"deep": DEEP, "": "empty key", "a.b": 1}), "i": model},
        )
    opened = admin.get_model(model)
    before = _raw(engine, model)
    result = save_draft(admin, {**draft_from_row(opened), "priority": 3}, opened, {"priority"})
    assert result.status == "saved", result.message
    assert _raw(engine, model) == {**before, "priority": 3}


def test_a_new_model_is_created_from_its_draft(engine, admin):
    provider = make_provider(engine)
    base = draft_from_row({"modality": "image", "task": "generation", "is_active": True})
    draft = {**base, "display_name": "Fresh", "model_key": "acme/fresh", "provider_id": str(provider)}
    result = save_draft(admin, draft, {}, {"display_name", "model_key", "provider_id"}, base=base)
    assert result.status == "saved"
    assert _raw(engine, result.saved["id"])["model_key"] == "acme/fresh"


def test_the_preview_says_what_a_save_does_to_routing_and_writes_nothing(engine, admin, model):
    from dashboard.services.editing import preview_save

    other = make_model(
        engine,
        make_provider(engine),
        display_name="<b>Other</b>",
        modality="video",
        task="text-to-video",
        is_default=True,
    )
    opened = admin.get_model(model)
    draft = {**draft_from_row(opened), "task": "text-to-video"}
    said = [i.message for i in preview_save(admin, draft, opened, {"task"}).impacts]
    assert "Acme becomes the default for video/text-to-video, replacing <b>Other</b>" in said
    assert "video/image-to-video is left without a default: Acme stops being its default" in said
    assert admin.get_model(other)["is_default"] is True
    assert preview_save(admin, {**draft_from_row(opened), "display_name": "x"}, opened, {"display_name"}).impacts == []
    result = save_draft(admin, draft, opened, {"task"})
    assert result.message == "Saved Acme. It replaced <b>Other</b> as the default for video/text-to-video."
