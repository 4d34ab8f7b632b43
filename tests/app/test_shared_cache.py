"""One cached read serves every person of a role where the policies show them all the same rows, and nobody
else's where they do not.

To see whether a read was shared, a model is renamed with the data-version trigger off (as no real write could
be): a page read afresh shows the new name, a page served from a read cached for someone else the old one.
"""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from dashboard.demo.catalogue import SDXL_ID
from tests import hostile
from tests.app.conftest import texts, user_id
from tests.factories import make_model, make_provider, make_user

MODELS = "pages/models.py"
QUIET_NAME = "Renamed without a new data version"


def _names(at) -> set[str]:
    return set(at.dataframe[0].value["display_name"])


@contextmanager
def _version_frozen(engine):
    """Writes inside leave the catalogue's data version where it was."""
    with engine.begin() as conn:
        conn.execute(sa.text("alter table api_models disable trigger dashboard_models_updated"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("alter table api_models enable trigger dashboard_models_updated"))


def _rename_quietly(engine) -> None:
    with _version_frozen(engine), engine.begin() as conn:
        conn.execute(
            sa.text("update api_models set display_name = :n where id = :id"), {"n": QUIET_NAME, "id": SDXL_ID}
        )


def test_under_the_seeds_policies_admins_share_one_read_and_users_another(demo_db, engine, signed_in):
    make_user(engine, role="admin", email="second-admin@example.com")
    first = signed_in(page=MODELS)
    assert "SDXL 1.0" in _names(first)
    _rename_quietly(engine)
    second = signed_in("second-admin@example.com", page=MODELS)
    assert "SDXL 1.0" in _names(second) and QUIET_NAME not in _names(second)  # the first admin's read
    viewer = signed_in("viewer@example.com", page=MODELS)
    assert QUIET_NAME in _names(viewer)  # users' reads are their own role's, read afresh
    assert len(_names(viewer)) < len(_names(second))  # and never the admins' inactive rows


def test_a_write_is_seen_by_the_next_click_of_every_admin(demo_db, engine, signed_in):
    make_user(engine, role="admin", email="second-admin@example.com")
    first, second = signed_in(page=MODELS), signed_in("second-admin@example.com", page=MODELS)
    with engine.begin() as conn:  # any write moves the data version
        conn.execute(sa.text("update api_models set display_name = :n where id = :id"), {"n": "Moved", "id": SDXL_ID})
    assert "Moved" in _names(second.run()) and "Moved" in _names(first.run())


def test_where_policies_show_admins_different_rows_nothing_is_shared(demo_db, engine, signed_in):
    """A platform's policy of rows per owner: each admin sees the inactive models they created, and only theirs."""
    with engine.begin() as conn:
        conn.execute(sa.text('drop policy "Admins can manage models" on api_models'))
        conn.execute(
            sa.text(
                'create policy "Admins manage their own models" on api_models for all to authenticated '
                "using (has_role(auth.uid(), 'admin'::app_role) and created_by = auth.uid())"
            )
        )
    second_id = make_user(engine, role="admin", email="second-admin@example.com")
    provider = make_provider(engine)
    mine = f"First's draft {hostile.LINK}"
    theirs = f"Second's draft {hostile.HTML}"
    make_model(engine, provider, display_name=mine, is_active=False, created_by=user_id(engine, "admin@example.com"))
    make_model(engine, provider, display_name=theirs, is_active=False, created_by=second_id, task="secret-task")

    first = signed_in(page=MODELS)
    second = signed_in("second-admin@example.com", page=MODELS)
    assert mine in _names(first) and theirs not in _names(first)
    assert theirs in _names(second) and mine not in _names(second)
    assert "secret-task" in second.selectbox(key="f_task").options
    assert "secret-task" not in first.selectbox(key="f_task").options
    _rename_quietly(engine)
    make_user(engine, role="admin", email="third-admin@example.com")
    third = signed_in("third-admin@example.com", page=MODELS)
    assert QUIET_NAME in _names(third)  # read afresh for them: no other admin's read served
    assert "Second's draft" not in texts(first)


def test_a_read_made_while_a_write_is_uncommitted_is_not_kept_past_its_commit(demo_db, engine, signed_in):
    """The data version moves when the write's statement runs, before its commit. A click between the two reads the
    catalogue as it was: that read must not be served once the write is committed."""
    make_user(engine, role="admin", email="second-admin@example.com")
    signed_in(page=MODELS)
    renamed = f"Renamed by a slow writer {hostile.HTML}"
    with engine.connect() as writer:  # another process's write, its transaction still open
        writer.execute(sa.text("update api_models set display_name = :n where id = :id"), {"n": renamed, "id": SDXL_ID})
        during = signed_in("second-admin@example.com", page=MODELS)
        assert "SDXL 1.0" in _names(during) and renamed not in _names(during)
        writer.commit()
    assert renamed in _names(during.run())  # the next click after the commit
    assert renamed in _names(signed_in(page=MODELS))
