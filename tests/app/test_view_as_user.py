"""An admin views the pages as a plain user: exactly what RLS shows a non-admin, without signing out."""

import pytest
import sqlalchemy as sa

from dashboard.services import ModelService, NotAllowed
from dashboard.services.errors import ModelNotFound
from dashboard.ui.session import PLAIN_VIEWER_ID
from tests import hostile
from tests.app.conftest import texts


def _nav(at) -> list[str]:
    return [p.page_name for p in at.get("navigation")] if at.get("navigation") else []


def _table(at):
    return at.dataframe[0].value


def test_an_admin_sees_what_a_plain_user_sees_and_comes_back(demo_db, signed_in):
    at = signed_in(page="pages/models.py")
    assert len(_table(at)) == 32 and [b for b in at.button if b.label == "New model"]
    at.toggle(key="view_as_user").set_value(True).run()
    assert not at.exception
    assert "You are viewing as a plain user" in texts(at)
    at.switch_page("../../pages/models.py").run()
    assert len(_table(at)) == 28  # active models only, as RLS shows a non-admin
    assert "Only admins can change" in texts(at) and not [b for b in at.button if b.label == "New model"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("../../pages/providers.py")
    at.toggle(key="view_as_user").set_value(False).run()
    at.switch_page("../../pages/models.py").run()
    assert [b for b in at.button if b.label == "New model"]  # editing again
    at.segmented_control(key="f_status").set_value("all").run()  # the URL kept the view's Active filter
    assert len(_table(at)) == 32


def test_plain_users_have_no_such_switch(demo_db, signed_in):
    at = signed_in("viewer@example.com")
    assert not [t for t in at.toggle if t.key == "view_as_user"]


def test_the_database_refuses_the_viewer_id_any_write(demo_db, engine):
    viewer = ModelService(engine, user_id=PLAIN_VIEWER_ID)
    assert not viewer.is_admin()
    with engine.connect() as conn:
        model = conn.execute(sa.text("select id from api_models where is_active limit 1")).scalar_one()
        assert (
            conn.execute(sa.text("select count(*) from auth.users where id = :i"), {"i": PLAIN_VIEWER_ID}).scalar() == 0
        )
    with pytest.raises((NotAllowed, ModelNotFound)):
        viewer.set_active(model, False)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select is_active from api_models where id = :i"), {"i": model}).scalar_one()


def test_an_admin_viewing_as_a_user_is_told_why_an_admin_link_does_not_open(demo_db, signed_in):
    at = signed_in(page="pages/models.py")
    at.toggle(key="view_as_user").set_value(True).run()
    at.context = {"url": "http://localhost:8501/usage"}
    at.query_params.update({"range": "all", "model": hostile.SQL})
    at.run()
    assert not at.exception, at.exception
    assert "Usage is for admins only. Turn off View as a plain user" in texts(at)
    assert dict(at.query_params) == {}
    at.toggle(key="view_as_user").set_value(False).run()  # the admin again: the same link opens the page
    assert "is for admins only" not in texts(at)


def _warm_up_scripts(at) -> list[str]:
    return [e.proto.body for e in at.get("html") if "__dashboardTabWarm" in e.proto.body]


def test_only_admins_tabs_make_tables_and_charts_ready_and_viewing_as_a_user_stops_it(demo_db, signed_in):
    at = signed_in(page="pages/models.py")
    [body] = _warm_up_scripts(at)
    assert "PlotlyChart." in body and "DataFrame." in body
    assert not _warm_up_scripts(signed_in("viewer@example.com", page="pages/models.py"))
    at.toggle(key="view_as_user").set_value(True).run()
    assert not _warm_up_scripts(at)  # a plain user lands on a table and draws no chart
