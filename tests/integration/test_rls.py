"""Row-level security: admin, plain user and anonymous against every verb, as the app runs them."""

import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE, acting_as
from tests.factories import make_job, make_model, make_provider, make_user


@pytest.fixture
def world(engine):
    provider = make_provider(engine)
    return {
        "admin": make_user(engine, "admin"),
        "user": make_user(engine, "user"),
        "other": make_user(engine, "user"),
        "anon": None,
        "provider": provider,
        "active": make_model(engine, provider, display_name="Active one"),
        "inactive": make_model(engine, provider, display_name="Inactive one", is_active=False),
    }


def _run(engine, who, sql, **params):
    with acting_as(engine, who) as conn:
        return conn.execute(sa.text(sql), params)


def _visible_models(engine, who):
    with acting_as(engine, who) as conn:
        return set(conn.execute(sa.text("select display_name from api_models")).scalars())


def test_admin_sees_every_model(engine, world):
    assert _visible_models(engine, world["admin"]) == {"Active one", "Inactive one"}


def test_user_sees_active_models_only(engine, world):
    assert _visible_models(engine, world["user"]) == {"Active one"}


def test_anonymous_sees_no_model(engine, world):
    """anon has no grant on the catalogue: not even an empty read (RLS would show it nothing anyway)."""
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _visible_models(engine, None)


def test_the_switch_really_changes_role_and_identity(engine, world):
    with acting_as(engine, world["user"]) as conn:
        row = conn.execute(sa.text("select current_user, auth.uid()")).one()
    assert row == ("authenticated", world["user"])
    with engine.connect() as conn:  # and the pooled connection is back to its login role afterwards
        assert conn.execute(sa.text("select current_user")).scalar() != "authenticated"


def test_admin_can_insert_update_and_delete(engine, world):
    insert = (
        "insert into api_models (provider_id, model_key, display_name, modality, task) "
        "values (:p, 'k', 'New', 'text', 'generation') returning id"
    )
    new_id = _run(engine, world["admin"], insert, p=world["provider"]).scalar_one()
    assert _run(engine, world["admin"], "update api_models set priority = 5 where id = :id", id=new_id).rowcount == 1
    assert _run(engine, world["admin"], "delete from api_models where id = :id", id=new_id).rowcount == 1


def test_user_insert_is_refused_with_42501(engine, world):
    with pytest.raises(sa.exc.ProgrammingError) as caught:
        _run(
            engine,
            world["user"],
            "insert into api_models (provider_id, model_key, display_name, modality, task) "
            "values (:p, 'k', 'Sneaky', 'text', 'generation')",
            p=world["provider"],
        )
    assert caught.value.orig.sqlstate == "42501"


def test_update_and_delete_by_a_user_touch_no_row(engine, world):
    for model in ("active", "inactive"):
        updated = _run(engine, world["user"], "update api_models set priority = 99 where id = :id", id=world[model])
        deleted = _run(engine, world["user"], "delete from api_models where id = :id", id=world[model])
        assert (updated.rowcount, deleted.rowcount) == (0, 0)
    assert _visible_models(engine, world["admin"]) == {"Active one", "Inactive one"}


@pytest.mark.parametrize("sql", ["update api_models set priority = 99", "delete from api_models"])
def test_anonymous_update_and_delete_are_refused_outright(engine, world, sql):
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _run(engine, None, sql)
    assert _visible_models(engine, world["admin"]) == {"Active one", "Inactive one"}


def test_anonymous_insert_is_refused(engine, world):
    with pytest.raises(sa.exc.ProgrammingError):
        _run(
            engine,
            None,
            "insert into api_models (provider_id, model_key, display_name, modality, task) "
            "values (:p, 'k', 'x', 'text', 'generation')",
            p=world["provider"],
        )


def test_only_admins_write_providers(engine, world):
    assert _run(engine, world["user"], "update api_providers set is_active = false").rowcount == 0
    with pytest.raises(sa.exc.ProgrammingError):
        _run(engine, world["user"], "insert into api_providers (name, display_name) values ('x', 'X')")
    assert _run(engine, world["admin"], "update api_providers set display_name = 'Renamed'").rowcount == 1


def test_signed_in_users_read_provider_names(engine, world):
    assert _run(engine, world["user"], "select count(*) from api_providers").scalar() == 1
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _run(engine, None, "select count(*) from api_providers")


def test_a_user_cannot_make_themselves_admin(engine, world):
    with pytest.raises(sa.exc.ProgrammingError):
        _run(engine, world["user"], "insert into user_roles (user_id, role) values (:u, 'admin')", u=world["user"])
    assert (
        _run(engine, world["user"], "update user_roles set role = 'admin' where user_id = :u", u=world["user"]).rowcount
        == 0
    )
    assert _run(engine, world["user"], "select has_role(:u, 'admin')", u=world["user"]).scalar() is False


def test_has_role_answers_true_for_an_admin_acting_as_themselves(engine, world):
    assert _run(engine, world["admin"], "select has_role(auth.uid(), 'admin')").scalar() is True


def test_nobody_but_admins_reads_other_peoples_jobs(engine, world):
    make_job(engine, world["active"], world["user"])
    make_job(engine, world["active"], world["other"])
    count = "select count(*) from jobs"
    assert _run(engine, world["user"], count).scalar() == 1
    assert _run(engine, world["admin"], count).scalar() == 2
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _run(engine, None, count)


def test_users_create_jobs_only_in_their_own_name(engine, world):
    insert = "insert into jobs (api_model_id, user_id) values (:m, :u)"
    _run(engine, world["user"], insert, m=world["active"], u=world["user"])
    with pytest.raises(sa.exc.ProgrammingError):
        _run(engine, world["user"], insert, m=world["active"], u=world["other"])


def test_profiles_are_private_to_their_owner_and_admins(engine, world):
    assert _run(engine, world["user"], "select count(*) from profiles").scalar() == 1
    assert _run(engine, world["admin"], "select count(*) from profiles").scalar() == 3


def test_auth_users_is_out_of_reach_of_signed_in_people(engine, world):
    with pytest.raises(sa.exc.ProgrammingError):
        _run(engine, world["admin"], "select encrypted_password from auth.users")


# ─── Jobs on the table the dashboard created (0012): nobody forges usage figures ─────────────────
_QUEUE = (
    "insert into jobs (user_id, api_model_id, status, quality_rating, created_at) "
    "values (:u, :m, :status, :rating, now() - cast(:ago as interval)) returning id"
)


@pytest.mark.parametrize(
    ("status", "rating", "ago"),
    [
        ("failed", None, "0 s"),
        ("completed", None, "0 s"),
        ("queued", 1, "0 s"),
        ("queued", None, "3 days"),
    ],
)
def test_people_cannot_insert_jobs_that_forge_usage(engine, world, status, rating, ago):
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        _run(engine, world["user"], _QUEUE, u=world["user"], m=world["active"], status=status, rating=rating, ago=ago)


def test_people_cannot_queue_jobs_for_a_model_they_cannot_see_or_for_someone_else(engine, world):
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        _run(
            engine, world["user"], _QUEUE, u=world["user"], m=world["inactive"], status="queued", rating=None, ago="0 s"
        )
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        _run(
            engine, world["user"], _QUEUE, u=world["admin"], m=world["active"], status="queued", rating=None, ago="0 s"
        )


def test_people_queue_a_job_and_rate_it_once_when_the_worker_completed_it(engine, world):
    job = _run(
        engine, world["user"], _QUEUE, u=world["user"], m=world["active"], status="queued", rating=None, ago="0 s"
    ).scalar()
    assert _run(engine, world["user"], "update jobs set quality_rating = 5 where id = :j", j=job).rowcount == 0
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _run(engine, world["user"], "update jobs set status = 'completed' where id = :j", j=job)
    _run(engine, SERVICE_ROLE, "update jobs set status = 'completed' where id = :j", j=job)
    assert _run(engine, world["user"], "update jobs set quality_rating = 2 where id = :j", j=job).rowcount == 1
    assert _run(engine, world["user"], "update jobs set quality_rating = 5 where id = :j", j=job).rowcount == 0
    with engine.connect() as conn:
        row = conn.execute(sa.text("select status, quality_rating from jobs where id = :j"), {"j": job}).one()
    assert tuple(row) == ("completed", 2)
