"""A role granted or revoked takes effect on the next click, cached reads included."""

from __future__ import annotations

import sqlalchemy as sa

from tests.app.conftest import user_id
from tests.factories import make_model, make_provider


def _task_options(at) -> list[str]:
    return list(at.selectbox(key="f_task").options)


def test_a_revoked_admin_no_longer_sees_cached_admin_only_rows(demo_db, engine, signed_in):
    make_model(engine, make_provider(engine), task="secret-task", is_active=False)
    at = signed_in(page="pages/models.py")
    assert "secret-task" in _task_options(at)  # an admin sees inactive models' tasks; now cached
    with engine.begin() as conn:
        conn.execute(sa.text("delete from user_roles where user_id = :u"), {"u": user_id(engine, "admin@example.com")})
    at.run()
    assert "secret-task" not in _task_options(at)


def test_a_new_admin_sees_admin_rows_at_once(demo_db, engine, signed_in):
    make_model(engine, make_provider(engine), task="secret-task", is_active=False)
    at = signed_in("viewer@example.com", page="pages/models.py")
    assert "secret-task" not in _task_options(at)
    with engine.begin() as conn:
        conn.execute(sa.text("insert into user_roles (user_id, role) values (:u, 'admin')"),
                     {"u": user_id(engine, "viewer@example.com")})  # fmt: skip
    at.run()
    assert "secret-task" in _task_options(at)
