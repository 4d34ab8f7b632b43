"""The editor's Delete: jobs are looked for before anything is asked, and what it promises History can keep."""

import sqlalchemy as sa

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts
from tests.factories import make_job, only_these_jobs

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
    at.session_state[f"open_history_{deletion}"] = True  # as clicking the entry's header does
    bring_back = at.run().button(key=f"restore_history_{deletion}")
    assert bring_back.label == "Bring this model back"
    bring_back.click().run()
    at.button(key=f"restore_history_{deletion}_yes").click().run()
    assert not at.exception, at.exception
    after = _db(engine, "select model_key, pricing::text, priority from api_models where id = :i", i=victim).one()
    assert after == before  # the same id and settings, as promised


def _traffic(at):
    """The review's table of the traffic that would move (the editor's History and Usage have tables too)."""
    return next(d.value for d in at.dataframe if "Jobs/day" in d.value.columns)


def test_make_default_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    # Flux Fill Pro level with the default SDXL Inpainting, so that the default flag decides the pick.
    _db(engine, "update api_models set priority = 1 where display_name = 'Flux Fill Pro'")
    _db(engine, "update api_models set display_name = :n where display_name = 'SDXL Inpainting'", n=hostile.HTML)
    only_these_jobs(engine, "image/inpainting", **{hostile.HTML: (35, 7), "Flux Fill Pro": (14, 0)})
    flux_fill = _db(engine, "select id from api_models where display_name = 'Flux Fill Pro'").scalar_one()
    at = signed_in(page=EDITOR, id=str(flux_fill))
    at.button(key="act_default").click().run()
    assert not at.exception, at.exception
    assert "Traffic that would move, from the last 7 days' jobs" in texts(at)
    assert _traffic(at).to_dict("records") == [
        {
            "Slot": "image/inpainting",
            "Jobs/day": 6.0,  # the old default's 42 jobs over 7 days
            "From": hostile.HTML,
            "To": "Flux Fill Pro",
            "Spend/day": "0.11 USD → 0.35 USD",  # 35 x 0.0025 + 14 x 0.05 a week, then 49 x 0.05
            "Failure rate": "12.5% → 0.0%",  # 7 of 56 failed; then the new default's own 0 of 14
            "Rating": "no history → no history",
        }
    ]
    assert "act_default_yes" in _keys(at)
    assert _db(engine, "select is_default from api_models where id = :i", i=flux_fill).scalar_one() is False


def test_deactivate_shows_the_traffic_that_would_move(demo_db, engine, signed_in):
    # Both other models of the slot have jobs: only the pick's move, and they go to the next in line.
    _db(engine, "update api_models set display_name = :n where display_name = 'Eleven Multilingual v2'", n=hostile.HTML)
    _db(engine, "update api_models set display_name = :n where display_name = 'OpenAI TTS-1'", n=hostile.LINK)
    only_these_jobs(engine, "audio/tts", **{hostile.HTML: (20, 1), hostile.LINK: (5, 0), "XTTS v2": (4, 0)})
    pick = _db(engine, "select id from api_models where display_name = :n", n=hostile.HTML).scalar_one()
    at = signed_in(page=EDITOR, id=str(pick))
    at.button(key="act_deactivate").click().run()
    assert not at.exception, at.exception
    assert "Traffic that would move, from the last 7 days' jobs" in texts(at)
    moves = _traffic(at)
    assert len(moves) == 1
    row = moves.iloc[0]
    assert (row["Slot"], row["Jobs/day"], row["From"], row["To"]) == ("audio/tts", 3.0, hostile.HTML, hostile.LINK)
    assert row["Failure rate"] == "3.3% → 0.0%"  # 1 of 30 failed; then 26 and 4 at their models' own 0
    assert "act_deactivate_yes" in _keys(at)
    assert _db(engine, "select is_active from api_models where id = :i", i=pick).scalar_one() is True
