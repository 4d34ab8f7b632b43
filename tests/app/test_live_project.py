"""Every page on a live Supabase-shaped project, run by its postgres-like role as the platform's own admin."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.database import create_db_engine
from db.migrate import migrate
from tests.app.conftest import APP, texts
from tests.live_shapes import SHAPES, build, owner_url

PAGES = {
    "overview": "Overview",
    "models": "Models",
    "model_editor": "Model editor",
    "defaults": "Defaults",
    "providers": "Providers",
    "routing": "Routing preview",
    "usage": "Usage",
    "health": "Health",
    "history": "History",
    "transfer": "Import and export",
}


@pytest.fixture(params=SHAPES, ids=str)
def live_admin(request, fresh_database, monkeypatch):
    """The platform's admin (a row of their user_roles), on a migrated live shape; DATABASE_URL is the owner's."""
    superuser = create_db_engine(fresh_database)
    build(superuser, request.param)
    admin = uuid.uuid4()
    with superuser.begin() as conn:
        conn.execute(
            sa.text(
                "insert into auth.users (id, aud, role, email, email_confirmed_at) "
                "values (:id, 'authenticated', 'authenticated', 'ops@platform.test', now())"
            ),
            {"id": admin},
        )
        conn.execute(sa.text("update public.profiles set full_name = 'Ops' where id = :id"), {"id": admin})
        conn.execute(sa.text("insert into public.user_roles (user_id, role) values (:id, 'admin')"), {"id": admin})
        conn.execute(sa.text("insert into jobs (user_id, api_model_id) select :id, id from api_models"), {"id": admin})
    owner = create_db_engine(owner_url(fresh_database))
    migrate(owner)
    owner.dispose()
    superuser.dispose()
    monkeypatch.setenv("DATABASE_URL", owner_url(fresh_database))
    return admin


def test_every_page_works_on_a_live_project(live_admin):
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["_dashboard_user_id"] = live_admin
    at.session_state["_dashboard_last_seen"] = time.time()
    at.run()
    for page, title in PAGES.items():
        at.switch_page(f"../../pages/{page}.py").run()
        assert not at.exception, f"{page}: {at.exception}"
        assert [t.value for t in at.title] == [title], page  # the page itself, not a sign-in form or a refusal
        assert "cannot be reached" not in texts(at), page
    at.switch_page("../../pages/overview.py").run()
    assert "1 model: modality outside text, image, video and audio" in texts(at)
