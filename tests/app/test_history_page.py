"""The History page and a model's history in its editor: field-level changes, filters, CSV, restore."""

import pytest
import sqlalchemy as sa

from dashboard.services import ModelService
from tests import hostile
from tests.app.conftest import open_history, texts, user_id
from tests.factories import only_these_jobs

PAGE = "pages/history.py"
HOSTILE = f"{hostile.LINK} {hostile.HTML} {hostile.FORMULA} {hostile.URL}"


def _sdxl(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from api_models where display_name = 'SDXL 1.0'")).scalar_one()


def test_an_edit_shows_who_changed_what(demo_db, engine, signed_in):
    admin = user_id(engine, "admin@example.com")
    ModelService(engine, user_id=admin).update_model(_sdxl(engine), {"display_name": HOSTILE, "priority": 6})
    at = signed_in(page=PAGE)
    assert not at.exception, at.exception
    first = at.expander[0].label
    assert "\\[click me\\]" in first  # a name is text, never a link
    shown = hostile.read(first)
    assert hostile.markdown_problems(first) == []
    assert f"admin@example.com · changed model {HOSTILE} (2 fields)" in shown
    assert not at.dataframe  # closed entries draw nothing
    changes = open_history(at, engine).dataframe[0].value
    assert dict(zip(changes["Field"], changes["After"], strict=True)) == {"display_name": HOSTILE, "priority": "6"}


def test_filters_come_from_the_url_and_hostile_values_fall_back(demo_db, engine, signed_in):
    at = signed_in(page=PAGE, model=str(_sdxl(engine)), person="not-a-uuid", table="<script>")
    assert not at.exception
    assert at.selectbox(key="h_model").value == str(_sdxl(engine))
    assert at.selectbox(key="h_person").value == "All"


def test_restore_from_the_editor_is_recorded(demo_db, engine, signed_in):
    admin = user_id(engine, "admin@example.com")
    model = _sdxl(engine)
    ModelService(engine, user_id=admin).update_model(model, {"priority": 8})
    at = signed_in(page="pages/model_editor.py", id=str(model))
    assert "History" in [s.value for s in at.subheader]
    restore = next(b for b in open_history(at, engine, "editor").button if b.key.startswith("restore_editor_"))
    restore.click().run()
    next(b for b in at.button if b.key.endswith("_yes")).click().run()
    assert not at.exception
    assert "Restored SDXL 1.0." in texts(at)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select priority from api_models where id = :i"), {"i": model}).scalar() == 1
        actions = (
            conn.execute(sa.text("select action from dashboard.audit_log where row_id = :i order by id"), {"i": model})
            .scalars()
            .all()
        )
    assert actions == ["insert", "update", "update"]


def test_the_csv_has_a_line_per_field(demo_db, engine, signed_in):
    from dashboard.services.audit import AuditFilters, AuditService
    from dashboard.ui.history_view import changes_table

    admin = user_id(engine, "admin@example.com")
    ModelService(engine, user_id=admin).update_model(_sdxl(engine), {"priority": 5, "pricing": {}})
    entries, _ = AuditService(engine, user_id=admin).history(AuditFilters(row_id=_sdxl(engine)))
    table = changes_table(entries[:1])
    assert set(table["field"]) == {"priority", "pricing.per_image", "pricing.currency", "pricing.billing_unit"}
    at = signed_in(page=PAGE)
    assert "Export CSV" in [b.proto.label for b in at.get("download_button")]


def test_plain_users_are_not_given_the_page(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"../../{PAGE}")


def test_a_restore_that_takes_the_default_back_says_so_before_and_after(demo_db, engine, signed_in):
    admin = user_id(engine, "admin@example.com")
    models = ModelService(engine, user_id=admin)
    sdxl = _sdxl(engine)
    flux = next(
        m["id"]
        for m in models.list_models_for_task(modality="image", task="generation")
        if m["display_name"] == "Flux 1.1 Pro"
    )
    models.update_model(flux, {"display_name": HOSTILE})
    models.set_default(flux)  # SDXL gives the default up: restoring that entry takes it back
    at = open_history(signed_in(page="pages/model_editor.py", id=str(sdxl)), engine, "editor")
    next(b for b in at.button if b.key.startswith("restore_editor_")).click().run()
    assert not at.exception, at.exception
    assert f"SDXL 1.0 becomes the default for image/generation, replacing {HOSTILE}" in hostile.read(texts(at))
    next(b for b in at.button if b.key.endswith("_yes")).click().run()
    assert not at.exception, at.exception
    assert f"Restored SDXL 1.0. It replaced {HOSTILE} as the default for image/generation." in hostile.read(texts(at))
    assert models.get_model(sdxl)["is_default"] is True


def _restore(at, entry_id: int, *, key: str = "history"):
    at.session_state[f"open_{key}_{entry_id}"] = True  # as clicking the entry's header does
    at.run().button(key=f"restore_{key}_{entry_id}").click().run()
    assert not at.exception, at.exception
    return at


def test_after_one_restore_another_entrys_confirmation_stays_open(demo_db, engine, signed_in):
    from dashboard.services.audit import AuditFilters, AuditService

    admin = user_id(engine, "admin@example.com")
    models = ModelService(engine, user_id=admin)
    sdxl = _sdxl(engine)
    models.update_model(sdxl, {"priority": 8})
    models.update_model(sdxl, {"display_name": HOSTILE})
    newer, older = AuditService(engine, user_id=admin).history(AuditFilters(row_id=sdxl), limit=2)[0]
    at = signed_in(page=PAGE, model=str(sdxl))
    _restore(at, newer.id).button(key=f"restore_history_{newer.id}_yes").click().run()
    assert not at.exception, at.exception
    assert f"History records it as restored from entry {newer.id}." in texts(at)
    # The restore is the newest entry and says what it restored; every other entry moved down one place.
    assert f"restored from entry {newer.id}" in at.expander[0].label
    _restore(at, older.id)
    assert at.session_state[f"open_history_{older.id}"] is True
    opened = next(e for e in at.expander if hostile.read(e.label).endswith(f"· entry {older.id}"))
    assert opened.proto.expanded
    assert [b for b in at.button if b.key == f"restore_history_{older.id}_yes"]  # its confirmation is shown
    at.button(key=f"restore_history_{older.id}_yes").click().run()
    assert not at.exception, at.exception
    with engine.connect() as conn:
        row = conn.execute(sa.text("select priority, display_name from api_models where id = :i"), {"i": sdxl}).one()
        marks = (
            conn.execute(
                sa.text("select application from dashboard.audit_log where row_id = :i order by id desc limit 2"),
                {"i": sdxl},
            )
            .scalars()
            .all()
        )
    assert tuple(row) == (1, "SDXL 1.0")  # as before the first change
    assert [m.split(" via ")[0] for m in marks] == [f"restored from entry {e.id}" for e in (older, newer)]


def test_an_entry_opened_by_hand_stays_open_after_a_rerun(demo_db, engine, signed_in):
    from dashboard.services.audit import AuditFilters, AuditService

    admin = user_id(engine, "admin@example.com")
    ModelService(engine, user_id=admin).update_model(_sdxl(engine), {"priority": 4})
    newest = AuditService(engine, user_id=admin).history(AuditFilters(), limit=1)[0][0]
    at = signed_in(page=PAGE)
    assert not at.expander[0].proto.expanded
    entry = f"open_history_{newest.id}"
    at.session_state[entry] = True  # what clicking its header does
    at.run()
    assert at.session_state[entry] is True and at.expander[0].proto.expanded


def test_flags_read_true_and_false_in_the_table_and_the_csv(demo_db, engine, signed_in):
    from dashboard.export import to_csv_bytes
    from dashboard.services.audit import AuditFilters, AuditService
    from dashboard.ui.history_view import changes_table

    admin, sdxl = user_id(engine, "admin@example.com"), _sdxl(engine)
    ModelService(engine, user_id=admin).update_model(sdxl, {"is_active": False, "display_name": HOSTILE})
    at = open_history(signed_in(page=PAGE), engine)
    changes = at.dataframe[0].value
    assert dict(zip(changes["Field"], zip(changes["Before"], changes["After"], strict=True), strict=True))[
        "is_active"
    ] == ("true", "false")
    entries, _ = AuditService(engine, user_id=admin).history(AuditFilters(row_id=sdxl))
    data = to_csv_bytes(changes_table(entries))
    csv = data.decode("utf-8-sig")
    assert "is_active,true,false" in csv and "True" not in csv and "False" not in csv
    assert hostile.csv_problems(data) == []  # the hostile name stays inert


@pytest.mark.parametrize("text", [*hostile.TEXT, "SDXL"])
def test_the_model_filter_searches_and_takes_text_literally(demo_db, engine, signed_in, text):
    at = signed_in(page=PAGE)
    at.text_input(key="h_model_q").input(text[:100]).run()
    assert not at.exception, at.exception
    options = at.selectbox(key="h_model").options
    assert len(options) <= 51  # All and the first 50 matches, never every model
    if text == "SDXL":
        assert any("SDXL 1.0" in hostile.read(o) for o in options)
        at.selectbox(key="h_model").set_value(str(_sdxl(engine))).run()
        assert not at.exception, at.exception
        assert at.query_params.get("model") in (str(_sdxl(engine)), [str(_sdxl(engine))])


def test_a_restore_that_changes_routing_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    from dashboard.services.audit import AuditFilters, AuditService

    admin = user_id(engine, "admin@example.com")
    with engine.begin() as conn:  # written in SQL, as other code may: the version restored keeps this name
        xtts = conn.execute(
            sa.text("update api_models set display_name = :n where display_name = 'XTTS v2' returning id"),
            {"n": hostile.HTML},
        ).scalar_one()
    ModelService(engine, user_id=admin).update_model(xtts, {"priority": 0})  # ahead of the default: the pick
    change = AuditService(engine, user_id=admin).history(AuditFilters(row_id=xtts), limit=1)[0][0]
    assert change.changes[0].path == "priority"
    only_these_jobs(
        engine, "audio/tts", **{hostile.HTML: (18, 3), "Eleven Multilingual v2": (7, 0), "OpenAI TTS-1": (7, 0)}
    )
    at = _restore(signed_in(page=PAGE, model=str(xtts)), change.id)
    assert "Traffic that would move, from the last 7 days' jobs" in texts(at)
    traffic = next(d.value for d in at.dataframe if "Jobs/day" in d.value.columns)
    # The pick's 21 jobs go back to the default (3 a day); the others' own jobs stay where they were asked for.
    [row] = traffic.to_dict("records")
    assert {k: v for k, v in row.items() if k != "Spend/day"} == {
        "Slot": "audio/tts",
        "Jobs/day": 3.0,
        "From": hostile.HTML,
        "To": "Eleven Multilingual v2",
        "Failure rate": "8.6% → 0.0%",  # 3 of 35 failed; then every job at a model that failed none of its own
        "Rating": "no history → no history",
    }
    assert f"{hostile.HTML} (cannot be costed)" in row["Spend/day"].split(" → ")[0]  # per second, no duration
    assert [b for b in at.button if b.key == f"restore_history_{change.id}_yes"]  # nothing restored until confirmed
    with engine.connect() as conn:
        assert conn.execute(sa.text("select priority from api_models where id = :i"), {"i": xtts}).scalar() == 0
