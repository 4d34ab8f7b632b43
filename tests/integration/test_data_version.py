"""The catalogue's data version: it moves on every write, and says whether a write is still uncommitted, so a read
made meanwhile is never taken for one made after the commit (migration 0018)."""

import sqlalchemy as sa

from dashboard.services import catalogue
from dashboard.services.catalogue import CatalogueService
from tests import hostile
from tests.factories import make_model, make_provider, make_user


def _reader(engine) -> CatalogueService:
    return CatalogueService(engine, user_id=make_user(engine, role="admin"))


def test_a_write_in_flight_is_not_settled_until_it_commits(engine):
    reader, model = _reader(engine), make_model(engine)
    before = reader.data_version()
    assert before[1]
    with engine.connect() as writer:
        writer.execute(
            sa.text("update api_models set display_name = :n where id = :id"), {"n": hostile.HTML, "id": model}
        )
        during = reader.data_version()
        assert during[0] > before[0] and not during[1]
        assert reader.data_version() == during  # asked again: still in flight
        writer.commit()
    after = reader.data_version()
    assert after == (during[0], True) and after != during


def test_providers_writes_rollbacks_and_two_writers_at_once(engine):
    reader, provider = _reader(engine), make_provider(engine)
    first, second = make_model(engine, provider), make_model(engine, provider)
    start = reader.data_version()
    with engine.connect() as one, engine.connect() as two:  # neither waits for the other
        one.execute(sa.text("update api_models set priority = 5 where id = :id"), {"id": first})
        two.execute(
            sa.text("update api_providers set display_name = :n where id = :id"), {"n": "Renamed", "id": provider}
        )
        assert not reader.data_version()[1]
        one.commit()
        assert not reader.data_version()[1]  # the other is still open
        two.execute(sa.text("delete from api_models where id = :id"), {"id": second})
        two.rollback()  # a rolled-back write still counts: one extra refresh, never a stale read
    end = reader.data_version()
    assert end[0] >= start[0] + 3 and end[1]


def test_a_count_seen_settled_stays_settled_without_looking_at_the_locks(engine):
    reader = _reader(engine)
    settled = reader.data_version()
    assert settled[1]
    with engine.connect() as other:  # the key held with no write: only a count not yet seen settled looks at it
        other.execute(sa.text("select pg_advisory_xact_lock_shared(1684108136, 1)"))
        assert reader.data_version() == settled
        catalogue._SETTLED.clear()  # a process that has not seen this count settled looks
        assert reader.data_version() == (settled[0], False)
        other.rollback()
    assert reader.data_version() == settled


def test_plain_users_and_the_service_role_may_read_it_and_nobody_else(engine):
    viewer = CatalogueService(engine, user_id=make_user(engine, role="user"))
    assert viewer.data_version()[1]
    with engine.connect() as conn:
        grants = dict(
            conn.execute(
                sa.text(
                    "select r, has_function_privilege(r, 'dashboard.catalogue_version(bigint)', 'execute') "
                    "from unnest(array['anon', 'authenticated', 'service_role']) r"
                )
            ).all()
        )
    assert grants == {"anon": False, "authenticated": True, "service_role": True}
