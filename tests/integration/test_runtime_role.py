"""The runtime role of docs/production.md, created from the SQL written there: the app works with it, and it
can do nothing more."""

import itertools
import os
import re
import secrets

import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dashboard.database import create_db_engine
from dashboard.services import ModelService, NotAllowed
from dashboard.services.audit import AuditService
from dashboard.services.auth import (
    REFUSED_BANNED,
    THROTTLE,
    SignInResult,
    load_identity,
    sign_in,
    single_sign_on,
    verify_code,
)
from dashboard.services.catalogue import CatalogueService, ModelFilters
from dashboard.services.usage import UsageService
from db.migrate import migrate
from tests.conftest import REPO
from tests.factories import make_job, make_model, make_provider, make_user
from tests.supabase_auth import add_factor, add_supabase_auth, gotrue_user

DOC = REPO / "docs" / "production.md"
RIGHT = "correct horse battery"
_roles = itertools.count()


def documented_sql() -> str:
    """The SQL block of the "The runtime role" section, as an operator would copy it."""
    section = DOC.read_text(encoding="utf-8").split("\n## The runtime role\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sql\n(.*?)```", section, re.S)[1]


@pytest.fixture
def runtime(engine, db_url):
    """(engine, role name): an engine logged in as a role made by the documented SQL, on a migrated database."""
    role = f"dashboard_app_test_{os.getpid()}_{next(_roles)}"  # roles are server-wide: a name of our own
    password = secrets.token_urlsafe(18)
    sql = documented_sql()
    assert "'a long random password'" in sql
    sql = sql.replace("dashboard_app", role).replace("'a long random password'", f"'{password}'")
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute(sql)  # the whole block as it is, as psql would run it
        raw.commit()
    finally:
        raw.close()
    runtime_engine = create_db_engine(
        make_url(db_url).set(username=role, password=password).render_as_string(hide_password=False)
    )
    try:
        yield runtime_engine, role
    finally:
        runtime_engine.dispose()
        with engine.begin() as conn:
            conn.execute(sa.text(f'drop owned by "{role}"'))  # the grants in this database
            conn.execute(sa.text(f'drop role "{role}"'))


def test_the_role_is_a_plain_login_role_that_can_only_become_authenticated(engine, runtime):
    _, role = runtime
    with engine.connect() as conn:
        attributes = conn.execute(
            sa.text(
                "select rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolbypassrls, rolcanlogin "
                "from pg_roles where rolname = :r"
            ),
            {"r": role},
        ).one()
        memberships = set(
            conn.execute(
                sa.text(
                    "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
                    "where m.member = (select oid from pg_roles where rolname = :r)"
                ),
                {"r": role},
            ).scalars()
        )
    assert tuple(attributes) == (False, False, False, False, False, True)
    assert memberships == {"authenticated"}


def test_the_app_signs_people_in_and_acts_as_them_with_only_these_grants(engine, runtime):
    app, _ = runtime
    ada = make_user(engine, "admin", email="ada@example.com", password=RIGHT)
    viewer = make_user(engine, "user", email="viewer@example.com", password=RIGHT)
    model_id = make_model(engine, make_provider(engine), display_name="SDXL 1.0", priority=1)
    make_job(engine, model_id, viewer)

    # Signing in, before anyone is signed in: right, wrong, unknown, throttled, single sign-on's lookup.
    assert sign_in(app, email="ada@example.com", password=RIGHT, address="203.0.113.7").user_id == ada
    assert sign_in(app, email="ada@example.com", password="wrong", address="203.0.113.7").user_id is None
    assert sign_in(app, email="nobody@example.com", password="wrong").user_id is None
    for _ in range(THROTTLE.account_limit):
        sign_in(app, email="viewer@example.com", password="wrong")
    assert sign_in(app, email="viewer@example.com", password=RIGHT).throttled
    assert single_sign_on(app, "Ada@Example.com", email_verified=True).user_id == ada

    # Every click: who this is, the data version, reads, an edit, the history, the usage.
    identity = load_identity(app, ada)
    assert (identity.email, identity.is_admin) == ("ada@example.com", True)
    catalogue = CatalogueService(app, user_id=ada)
    version = catalogue.data_version()
    rows, total = catalogue.browse_models(ModelFilters())
    assert total == 1 and rows[0]["display_name"] == "SDXL 1.0"
    models = ModelService(app, user_id=ada)
    model = models.get_model(model_id)
    assert models.update_model(model_id, {"priority": 7}, expected_version=model["row_version"])["priority"] == 7
    assert catalogue.data_version() > version and catalogue.data_version()[1]  # moved, and settled
    entries, _ = AuditService(app, user_id=ada).history()
    assert entries[0].actor_email == "ada@example.com"
    usage = UsageService(app, user_id=ada)
    usage.fold()
    assert int(usage.by_model()["total_jobs"].sum()) == 1

    # A plain user reads active models and is refused a write, by the database.
    plain = ModelService(app, user_id=viewer)
    assert [m["id"] for m in plain.list_active_models()] == [model_id]
    with pytest.raises(NotAllowed):
        plain.update_model(model_id, {"priority": 1})
    with engine.connect() as conn:
        assert conn.execute(sa.text("select priority from api_models where id = :i"), {"i": model_id}).scalar() == 7


@pytest.mark.parametrize(
    "statement",
    [
        "select count(*) from public.api_models",
        "select count(*) from auth.users",
        "select count(*) from dashboard.sign_in_attempts",
        "delete from dashboard.sign_in_attempts",
        "select dashboard.prune_sign_in_attempts('0 seconds')",
        "select * from dashboard.sign_in_account('ada@example.com')",  # 0007's, no longer granted
        "select * from dashboard.signed_in_identity()",  # only as a signed-in person
        "select set_config('role', 'service_role', true)",
        "select set_config('role', 'anon', true)",
        "create table dashboard.mine (x int)",
    ],
)
def test_on_its_own_the_role_can_do_nothing_else(runtime, statement):
    app, _ = runtime
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        with app.begin() as conn:
            conn.execute(sa.text(statement))


def test_with_only_these_grants_the_app_refuses_and_asks_for_codes_as_supabase_auth_would(engine, runtime):
    app, _ = runtime
    add_supabase_auth(engine)  # Supabase's columns, auth.mfa_factors and auth.identities
    ada = gotrue_user(engine, "ada@example.com", password=RIGHT, full_name="Ada Lovelace")
    secret = add_factor(engine, ada)
    gotrue_user(engine, "banned@example.com", password=RIGHT, banned_until="infinity")
    challenge = sign_in(app, email="ada@example.com", password=RIGHT).challenge
    assert verify_code(app, challenge, code=pyotp.TOTP(secret).now()) == SignInResult(user_id=ada)
    assert sign_in(app, email="banned@example.com", password=RIGHT) == SignInResult(refused=REFUSED_BANNED)
    assert sign_in(app, email="banned@example.com", password="wrong") == SignInResult()
    assert load_identity(app, ada).email == "ada@example.com"


def test_the_role_cannot_migrate(runtime):
    app, _ = runtime
    with pytest.raises(Exception, match="permission denied"):
        migrate(app)
