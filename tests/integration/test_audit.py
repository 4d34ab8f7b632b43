"""The audit trail: every write to the catalogue, whoever makes it; only admins read it; restores are audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.services import ModelService, NotAllowed
from dashboard.services.audit import AuditFilters, AuditService, NothingToRestore
from dashboard.services.providers import ProviderService
from tests import hostile
from tests.concurrency import run_together
from tests.factories import make_job, make_model, make_provider, make_user


@pytest.fixture
def admin(engine):
    return make_user(engine, "admin", email="boss@example.com")


def _history(engine, admin, **filters):
    entries, _ = AuditService(engine, user_id=admin).history(AuditFilters(**filters))
    return entries


def test_each_write_is_recorded_with_who_and_the_rows(engine, admin):
    provider = make_provider(engine)
    models = ModelService(engine, user_id=admin)
    model = models.create_model(
        {
            "provider_id": provider,
            "model_key": "a/b",
            "display_name": "A",
            "modality": "image",
            "task": "generation",
            "pricing": {},
        }
    )
    models.update_model(model["id"], {"display_name": "A2", "input_defaults": {"width": 512}})
    models.delete_model(model["id"])
    entries = _history(engine, admin, row_id=model["id"])
    assert [e.action for e in entries] == ["delete", "update", "insert"]
    update = entries[1]
    assert update.actor_email == "boss@example.com" and update.db_role == "authenticated"
    assert {c.path: (c.before, c.after) for c in update.changes} == {
        "display_name": ("A", "A2"),
        "input_defaults.width": (update.changes[1].before, 512),
    }
    assert entries[0].old_row["display_name"] == "A2" and entries[0].new_row is None


def test_writes_made_in_sql_are_recorded_with_the_database_role(engine, admin):
    model = make_model(engine, display_name="SQL made")  # the server's login role, no one signed in
    with engine.begin() as conn:
        conn.execute(sa.text("set local application_name = 'Supabase Studio'"))
        conn.execute(sa.text("update api_models set priority = 4 where id = :id"), {"id": model})
    update = _history(engine, admin, row_id=model)[0]
    assert (update.actor_id, update.db_role, update.application) == (None, "postgres", "Supabase Studio")
    assert update.who == "postgres (Supabase Studio)"
    assert [c.path for c in update.changes] == ["priority"]


def test_providers_are_audited_and_no_op_saves_are_not(engine, admin):
    provider = make_provider(engine, name="acme")
    ProviderService(engine, user_id=admin).update_provider(provider, {"display_name": "Acme Inc"})
    with engine.begin() as conn:
        conn.execute(sa.text("update api_providers set display_name = display_name where id = :id"), {"id": provider})
    entries = _history(engine, admin, table_name="api_providers", row_id=provider)
    assert [e.action for e in entries] == ["update", "insert"]
    assert entries[0].name == "Acme Inc"


def test_only_admins_read_it_and_nobody_can_write_or_erase_it(engine, admin):
    make_model(engine)
    viewer = make_user(engine)
    assert _history(engine, viewer) == []
    with pytest.raises(NotAllowed):
        _history(engine, None)  # anonymous visitors may not even ask
    assert _history(engine, admin)
    with engine.connect() as conn:
        conn.execute(
            sa.text("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', :c, true)"),
            {"c": f'{{"sub": "{admin}"}}'},
        )
        for statement in (
            "delete from dashboard.audit_log",
            "update dashboard.audit_log set actor_email = 'x'",
            "insert into dashboard.audit_log (table_name, row_id, action, db_role) "
            "values ('api_models', gen_random_uuid(), 'insert', 'x')",
        ):
            with pytest.raises(sa.exc.ProgrammingError), conn.begin_nested():
                conn.execute(sa.text(statement))


def test_restoring_a_version_is_itself_audited(engine, admin):
    provider = make_provider(engine)
    models = ModelService(engine, user_id=admin)
    model = models.create_model(
        {
            "provider_id": provider,
            "model_key": "a/b",
            "display_name": "Before",
            "modality": "image",
            "task": "generation",
            "priority": 3,
            "pricing": {"per_image": 0.04, "currency": "USD", "billing_unit": "per_image"},
        }
    )
    models.update_model(model["id"], {"display_name": "After", "priority": 9, "pricing": {}})
    change = _history(engine, admin, row_id=model["id"])[0]
    restored = AuditService(engine, user_id=admin).restore_model(change.id)
    assert (restored["display_name"], restored["priority"], restored["pricing"]["per_image"]) == ("Before", 3, 0.04)
    newest = _history(engine, admin, row_id=model["id"])[0]
    assert newest.action == "update" and newest.actor_email == "boss@example.com"
    with pytest.raises(NothingToRestore, match="already as it was"):
        AuditService(engine, user_id=admin).restore_model(change.id)


def test_a_deleted_model_comes_back_with_its_id(engine, admin):
    model = make_model(engine, display_name="Gone")
    ModelService(engine, user_id=admin).delete_model(model)
    deletion = _history(engine, admin, row_id=model)[0]
    back = AuditService(engine, user_id=admin).restore_model(deletion.id)
    assert back["id"] == model and back["display_name"] == "Gone"
    assert [e.action for e in _history(engine, admin, row_id=model)] == ["insert", "delete", "insert"]


def test_a_plain_user_cannot_restore(engine, admin):
    model = make_model(engine, display_name="X")
    ModelService(engine, user_id=admin).update_model(model, {"display_name": "Y"})
    entry = _history(engine, admin, row_id=model)[0]
    with pytest.raises((NothingToRestore, NotAllowed)):
        AuditService(engine, user_id=make_user(engine)).restore_model(entry.id)


def test_filters_by_person_and_date(engine, admin):
    other = make_user(engine, "admin", email="other@example.com")
    a, b = make_model(engine), make_model(engine)
    ModelService(engine, user_id=admin).update_model(a, {"priority": 2})
    ModelService(engine, user_id=other).update_model(b, {"priority": 3})
    mine = _history(engine, admin, actor_id=admin)
    assert [e.row_id for e in mine] == [a]
    assert {r["email"] for r in AuditService(engine, user_id=admin).actors()} == {
        "boss@example.com",
        "other@example.com",
    }
    latest = mine[0].at
    assert _history(engine, admin, start=latest, actor_id=admin) and not _history(
        engine, admin, end=latest, actor_id=admin
    )


def test_concurrent_edits_each_leave_an_entry(engine, admin):
    model = make_model(engine)
    run_together(lambda p: ModelService(engine, user_id=admin).update_model(model, {"priority": p}), [1, 2, 3, 4])
    updates = [e for e in _history(engine, admin, row_id=model) if e.action == "update"]
    assert len(updates) >= 1 and all(len(e.changes) == 1 for e in updates)


def test_job_writes_are_not_catalogue_history(engine, admin):
    model = make_model(engine)
    make_job(engine, model)
    assert [e.action for e in _history(engine, admin, row_id=model)] == ["insert"]


def test_the_export_reads_past_one_page(engine, admin):
    model = make_model(engine)
    for priority in range(1, 13):
        ModelService(engine, user_id=admin).update_model(model, {"priority": priority})
    service = AuditService(engine, user_id=admin)
    page, total = service.history(AuditFilters(row_id=model), limit=5)
    assert len(page) == 5 and total == 13
    assert len(service.export_entries(AuditFilters(row_id=model))) == 13


def test_a_restore_that_takes_the_default_back_names_the_model_it_takes_it_from(engine, admin):
    provider = make_provider(engine)
    first = make_model(engine, provider, display_name=hostile.SCRIPT, is_default=True, priority=1)
    second = make_model(engine, provider, display_name="Second", priority=2)
    ModelService(engine, user_id=admin).set_default(second)  # first gives the default up: that is the entry
    entry = _history(engine, admin, row_id=first)[0]
    audit = AuditService(engine, user_id=admin)
    said = [i.message for i in audit.review_restore(entry.id)]
    assert f"{hostile.SCRIPT} becomes the default for image/generation, replacing Second" in said
    assert ModelService(engine, user_id=admin).get_model(second)["is_default"] is True  # a review writes nothing
    restored = audit.restore(entry.id)
    assert restored.describe("Restored") == (
        f"Restored {hostile.SCRIPT}. It replaced Second as the default for image/generation."
    )
    assert ModelService(engine, user_id=admin).get_model(second)["is_default"] is False


def test_reviewing_a_restore_of_a_deleted_model_shows_it_coming_back(engine, admin):
    provider = make_provider(engine)
    model = make_model(engine, provider, display_name="Gone", priority=1)
    ModelService(engine, user_id=admin).delete_model(model)
    said = [i.message for i in AuditService(engine, user_id=admin).review_restore(_history(engine, admin)[0].id)]
    assert "image/generation can take jobs again: it routes to Gone" in said


def test_a_restore_says_which_entry_it_restored_and_the_next_write_does_not(engine, admin):
    models = ModelService(engine, user_id=admin)
    model = make_model(engine, display_name="Before")
    models.update_model(model, {"display_name": hostile.SQL})
    change = _history(engine, admin, row_id=model)[0]
    AuditService(engine, user_id=admin).restore(change.id)
    restore = _history(engine, admin, row_id=model)[0]
    assert restore.restored_from == change.id and restore.actor_email == "boss@example.com"
    assert restore.application == f"restored from entry {change.id} via api-models-dashboard"
    assert change.restored_from is None
    models.update_model(model, {"priority": 7})  # the mark lasted one transaction: a pooled connection forgets it
    assert _history(engine, admin, row_id=model)[0].restored_from is None


def test_a_model_brought_back_says_which_delete_it_undid(engine, admin):
    model = make_model(engine, display_name=hostile.HTML)
    ModelService(engine, user_id=admin).delete_model(model)
    deletion = _history(engine, admin, row_id=model)[0]
    AuditService(engine, user_id=admin).restore(deletion.id)
    back = _history(engine, admin, row_id=model)[0]
    assert (back.action, back.restored_from) == ("insert", deletion.id)


@pytest.mark.parametrize(
    "application",
    [
        f"restored from entry 1{hostile.SQL}",
        "restored from entry x",
        "Supabase Studio",
        "",
        hostile.SCRIPT,
        "restored from entry 12 (my script)",
    ],
)
def test_only_the_restore_mark_itself_reads_as_a_restore(engine, admin, application):
    model = make_model(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("select set_config('application_name', :a, true)"), {"a": application})
        conn.execute(sa.text("update api_models set priority = 4 where id = :id"), {"id": model})
    assert _history(engine, admin, row_id=model)[0].restored_from is None
