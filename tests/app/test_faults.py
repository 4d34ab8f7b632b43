"""The database going away: a banner and a retry, no traceback, nothing typed lost, the pool recovering."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.database import create_db_engine
from dashboard.services import ModelService
from tests.app.conftest import texts
from tests.faults import CuttableProxy

DOWN = "The database cannot be reached right now"


@pytest.fixture
def proxy(demo_db, monkeypatch):
    proxy = CuttableProxy(demo_db)
    monkeypatch.setenv("DATABASE_URL", proxy.url)
    yield proxy
    proxy.close()


def _sdxl(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from api_models where display_name = 'SDXL 1.0'")).scalar_one()


def test_an_edit_survives_the_database_going_away_and_saves_when_it_is_back(proxy, engine, signed_in):
    model = _sdxl(engine)
    at = signed_in(page="pages/model_editor.py", id=str(model))
    at.text_input(key="ed_display_name").set_value("SDXL typed while the database was away").run()
    at.number_input(key="ed_priority").set_value(7).run()
    proxy.cut()
    at.run()
    assert not at.exception, at.exception
    assert DOWN in texts(at) and [b for b in at.button if b.key == "retry_database"]
    at.run()  # still down: still a banner, never a traceback
    assert not at.exception and DOWN in texts(at)
    proxy.restore()
    at.button(key="retry_database").click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="ed_display_name").value == "SDXL typed while the database was away"
    assert at.number_input(key="ed_priority").value == 7
    at.button(key="save").click().run()
    with engine.connect() as conn:
        row = conn.execute(sa.text("select display_name, priority from api_models where id = :i"), {"i": model}).one()
    assert tuple(row) == ("SDXL typed while the database was away", 7)


@pytest.mark.parametrize("page", ["pages/models.py", "pages/usage.py", "pages/history.py", "pages/overview.py"])
def test_every_page_shows_the_banner_not_a_traceback(proxy, signed_in, page):
    at = signed_in(page=page)
    assert not at.exception
    proxy.cut()
    at.run()
    assert not at.exception, at.exception
    assert DOWN in texts(at)
    proxy.restore()
    at.button(key="retry_database").click().run()
    assert not at.exception and DOWN not in texts(at)


def test_down_at_start_then_up(proxy, signed_in):
    proxy.cut()
    at = signed_in()
    assert not at.exception and DOWN in texts(at)
    proxy.restore()
    at.button(key="retry_database").click().run()
    assert not at.exception and DOWN not in texts(at)


def test_the_pool_recovers_by_itself(proxy, engine):
    pooled = create_db_engine(proxy.url)
    try:
        service = ModelService(pooled, user_id="service_role")
        assert service.list_active_models()
        proxy.cut()
        with pytest.raises(sa.exc.OperationalError):
            service.list_active_models()
        proxy.restore()
        assert service.list_active_models()  # the broken connections were thrown away, not handed out
    finally:
        pooled.dispose()


def test_a_transaction_cut_halfway_leaves_nothing_written(proxy, engine):
    pooled = create_db_engine(proxy.url)
    try:
        with pytest.raises(sa.exc.OperationalError), pooled.begin() as conn:
            conn.execute(sa.text("update api_models set priority = priority + 100"))
            proxy.cut()
            conn.execute(sa.text("update api_providers set display_name = 'half'"))
        proxy.restore()
        with engine.connect() as conn:
            assert conn.execute(sa.text("select max(priority) from api_models")).scalar() < 100
            assert not conn.execute(sa.text("select 1 from api_providers where display_name = 'half'")).first()
    finally:
        pooled.dispose()
