"""A role granted or revoked takes effect on the next click, cached reads included."""

from __future__ import annotations

import sqlalchemy as sa

from tests.app.conftest import texts, user_id
from tests.factories import make_model, make_provider


def _task_options(at) -> list[str]:
    return list(at.selectbox(key="f_task").options)


def test_a_revoked_admin_is_signed_out_and_signs_back_in_without_the_cached_admin_rows(demo_db, engine, signed_in):
    make_model(engine, make_provider(engine), task="secret-task", is_active=False)
    at = signed_in(page="pages/models.py")
    assert "secret-task" in _task_options(at)  # an admin sees inactive models' tasks; now cached
    with engine.begin() as conn:
        conn.execute(sa.text("delete from user_roles where user_id = :u"), {"u": user_id(engine, "admin@example.com")})
    at.run()
    assert not at.exception
    assert "Your admin role was removed" in texts(at)  # the session ended, and the sign-in page says why
    assert "f_task" not in [s.key for s in at.selectbox]
    again = signed_in(page="pages/models.py")  # signed in again, now as who they are: a viewer
    assert "secret-task" not in _task_options(again)
    with engine.connect() as conn:
        ended = conn.execute(
            sa.text("select count(*) from dashboard.sessions where user_id = :u and ended_reason = 'role_revoked'"),
            {"u": user_id(engine, "admin@example.com")},
        )
        assert ended.scalar() >= 1


def test_a_new_admin_sees_admin_rows_at_once(demo_db, engine, signed_in):
    make_model(engine, make_provider(engine), task="secret-task", is_active=False)
    at = signed_in("viewer@example.com", page="pages/models.py")
    assert "secret-task" not in _task_options(at)
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into user_roles (user_id, role) values (:u, 'admin')"),
            {"u": user_id(engine, "viewer@example.com")},
        )
    at.run()
    assert "secret-task" in _task_options(at)
