"""The editor's Delete: jobs are looked for before anything is asked, and what it promises History can keep."""

import sqlalchemy as sa

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_job

EDITOR = "pages/model_editor.py"


def _db(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _keys(at) -> set[str]:
    return {b.key for b in at.button if b.key}


def test_a_model_with_jobs_is_refused_before_any_confirmation(demo_db, engine, signed_in):
    at = signed_in(page=EDITOR, id=str(SDXL_ID))
    at.button(key="act_delete").click().run()
    assert not at.exception, at.exception
    assert "cannot be deleted; deactivate it instead" in texts(at)
    assert not {"act_delete_yes", "act_delete_no"} & _keys(at)  # no confirmation was offered
    assert "act_deactivate_instead" in _keys(at)
    at.button(key="act_delete").click().run()  # asking again looks again: still refused
    assert not {"act_delete_yes", "act_delete_no"} & _keys(at)
    assert _db(engine, "select count(*) from api_models where id = :i", i=SDXL_ID).scalar_one() == 1
    _db(engine, "delete from jobs where api_model_id = :i", i=SDXL_ID)  # once nothing references it
    at.button(key="act_delete").click().run()
    assert "act_delete_yes" in _keys(at) and "cannot be deleted" not in texts(at)


def test_an_inactive_model_with_jobs_is_not_offered_to_be_deactivated_again(demo_db, engine, signed_in):
    model = _db(engine, "select id from api_models where display_name = 'Stable Diffusion 2.1'").scalar_one()
    make_job(engine, model)
    at = signed_in(page=EDITOR, id=str(model))
    at.button(key="act_delete").click().run()
    assert "It is already inactive" in texts(at) and "act_deactivate_instead" not in _keys(at)


def test_a_deleted_model_comes_back_from_history_as_the_confirmation_says(demo_db, engine, signed_in):
    _db(engine, "update api_models set display_name = :n where display_name = 'BiRefNet'", n=hostile.HTML)
    victim = _db(engine, "select id from api_models where display_name = :n", n=hostile.HTML).scalar_one()
    _db(engine, "delete from jobs where api_model_id = :i", i=victim)
    before = _db(engine, "select model_key, pricing::text, priority from api_models where id = :i", i=victim).one()
    at = signed_in(page=EDITOR, id=str(victim))
    at.button(key="act_delete").click().run()
    said = hostile.read(texts(at))
    assert f"Delete {hostile.HTML}?" in said and 'brought back from History ("Bring this model back"' in said
    at.button(key="act_delete_yes").click().run()
    assert not at.exception, at.exception
    assert _db(engine, "select count(*) from api_models where id = :i", i=victim).scalar_one() == 0
    at = signed_in(page="pages/history.py")
    deletion = _db(
        engine, "select id from dashboard.audit_log where row_id = :i and action = 'delete'", i=victim
    ).scalar_one()
    bring_back = at.button(key=f"restore_history_{deletion}")
    assert bring_back.label == "Bring this model back"
    bring_back.click().run()
    at.button(key=f"restore_history_{deletion}_yes").click().run()
    assert not at.exception, at.exception
    after = _db(engine, "select model_key, pricing::text, priority from api_models where id = :i", i=victim).one()
    assert after == before  # the same id and settings, as promised
