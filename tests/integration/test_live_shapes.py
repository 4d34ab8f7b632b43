"""Attaching to live Supabase-shaped projects: migrate as a non-superuser, twice; leave every platform table as it
was; never refuse, fail or hold up a write the platform makes; widen nobody's access; report the rows that
break the seed's rules; and work on what is there."""

from __future__ import annotations

import json
import uuid

import pyotp
import pytest
import sqlalchemy as sa

from dashboard.database import SERVICE_ROLE, acting_as, create_db_engine
from dashboard.services import ModelService
from dashboard.services.auth import load_identity, sign_in, verify_code
from dashboard.services.catalogue import CatalogueService, rule_findings
from db.live import SEED_INDEXES, inspect_shape, plan
from db.migrate import load_migrations, migrate, migration_sql
from tests.factories import make_user
from tests.live_shapes import SHAPES, advisor_findings, anon_reach, build, owner_url, snapshot
from tests.supabase_auth import add_factor, gotrue_user

_SEED_USAGE = """
SELECT am.display_name, COUNT(j.id) as total_jobs,
    COUNT(j.id) FILTER (WHERE j.status = 'completed') as completed_jobs,
    COUNT(j.id) FILTER (WHERE j.status = 'failed') as failed_jobs, AVG(j.quality_rating) as avg_quality_rating
FROM api_models am JOIN api_providers ap ON am.provider_id = ap.id LEFT JOIN jobs j ON am.id = j.api_model_id
WHERE am.is_active = true GROUP BY am.id, am.display_name ORDER BY am.display_name
"""


@pytest.fixture(params=SHAPES, ids=str)
def live(request, fresh_database):
    """(superuser engine, owner engine, shape) on a database laid out as the shape, not migrated yet."""
    superuser = create_db_engine(fresh_database)
    build(superuser, request.param)
    owner = create_db_engine(owner_url(fresh_database))
    yield superuser, owner, request.param
    owner.dispose()
    superuser.dispose()


def _people(superuser):
    """An admin and a plain user, written straight into auth.users as Supabase Auth would have."""
    admin, user = uuid.uuid4(), uuid.uuid4()
    with superuser.begin() as conn:
        for person, email in ((admin, "ops@platform.test"), (user, "someone@platform.test")):
            conn.execute(
                sa.text(
                    "insert into auth.users (id, aud, role, email, email_confirmed_at) "
                    "values (:id, 'authenticated', 'authenticated', :email, now())"
                ),
                {"id": person, "email": email},
            )
            conn.execute(sa.text("update public.profiles set full_name = 'Someone' where id = :id"), {"id": person})
        conn.execute(sa.text("insert into public.user_roles (user_id, role) values (:id, 'admin')"), {"id": admin})
    return admin, user


def _platform_writes(owner, shape, admin, user):
    """What the platform's own code does, as Supabase's API makes it: each must still succeed."""
    rated = "no-rating" not in shape.name
    statuses = ("queued", "processing", "completed") if rated else ("pending", "running", "completed")
    with acting_as(owner, user) as conn:  # a person queues a job through the API
        model = conn.execute(sa.text("select id from api_models where model_key = 'live/sdxl'")).scalar_one()
        job = conn.execute(
            sa.text("insert into jobs (user_id, api_model_id) values (:u, :m) returning id"), {"u": user, "m": model}
        ).scalar_one()
    for status in statuses[1:]:  # the worker moves it along with the service key
        with acting_as(owner, SERVICE_ROLE) as conn:
            conn.execute(sa.text("update jobs set status = :s where id = :id"), {"s": status, "id": job})
    if rated:
        with acting_as(owner, user) as conn:  # the person rates it
            conn.execute(sa.text("update jobs set quality_rating = 4 where id = :id"), {"id": job})
    with acting_as(owner, admin) as conn:  # the platform's admin screens
        conn.execute(sa.text("update api_models set notes = 'edited by the platform' where model_key = 'live/sdxl'"))
        # A model of a modality the seed does not list, and a second default in a slot with a blank name:
        # the platform's rules, not ours.
        for key, name, modality, task in (
            ("live/omni-2", "Omni 2", "multimodal", "chat"),
            ("live/x", " ", "image", "generation"),
        ):
            conn.execute(
                sa.text(
                    "insert into api_models (provider_id, model_key, display_name, modality, task, is_default) "
                    "select provider_id, :key, :name, :modality, :task, true from api_models "
                    "where model_key = 'live/sdxl'"
                ),
                {"key": key, "name": name, "modality": modality, "task": task},
            )
    with acting_as(owner, SERVICE_ROLE) as conn:
        conn.execute(sa.text("delete from jobs where id = :id"), {"id": job})


def test_migrating_twice_as_a_non_superuser_leaves_every_platform_table_as_it_was(live):
    superuser, owner, shape = live
    before = snapshot(superuser)
    report: list[str] = []
    assert migrate(owner, report=report) == [m.version for m in load_migrations()]
    report += rule_findings(owner)
    assert migrate(owner) == []
    after = snapshot(superuser)
    for part in before:
        assert after[part] == before[part], f"{shape}: {part} changed"
    with superuser.connect() as conn:
        indexes = set(
            conn.execute(sa.text("select indexname from pg_indexes where tablename = 'api_models'")).scalars()
        )
        ours = list(
            conn.execute(sa.text("select tgname, tgtype from pg_trigger where tgname like 'dashboard\\_%'")).all()
        )
    assert set(SEED_INDEXES) <= indexes
    assert "api_models_one_default_per_slot" not in indexes
    # Every trigger of ours is AFTER (bit 1 of tgtype is BEFORE): none can refuse or change a row.
    assert ours and all(not (tgtype & 2) for _, tgtype in ours), ours
    assert "rule not enforced here: 1 model: modality outside text, image, video and audio" in report
    if shape.two_defaults:
        assert "rule not enforced here: 2 models: more than one default in one slot (modality and task)" in report


def test_the_platforms_own_writes_still_succeed_after_migrating(live):
    superuser, owner, shape = live
    admin, user = _people(superuser)
    migrate(owner)
    _platform_writes(owner, shape, admin, user)
    with superuser.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where modality = 'multimodal'")).scalar() == 2


def test_usage_equals_the_seed_query_on_every_shape_after_the_platform_writes(live):
    superuser, owner, shape = live
    admin, user = _people(superuser)
    with superuser.begin() as conn:  # jobs that were there before the dashboard
        conn.execute(
            sa.text(
                "insert into jobs (user_id, api_model_id, status) select :u, id, 'completed' "
                "from api_models cross join generate_series(1, 3)"
            ),
            {"u": user},
        )
    migrate(owner)
    _platform_writes(owner, shape, admin, user)
    with superuser.begin() as conn:
        conn.execute(
            sa.text(
                "insert into jobs (user_id, api_model_id, status) select :u, id, 'failed' "
                "from api_models where is_active"
            ),
            {"u": user},
        )
    seed_query = (
        _SEED_USAGE if "no-rating" not in shape.name else _SEED_USAGE.replace("AVG(j.quality_rating)", "NULL::numeric")
    )
    with superuser.connect() as conn:
        expected = [
            (r.display_name, r.total_jobs, r.completed_jobs, r.failed_jobs, r.avg_quality_rating)
            for r in conn.execute(sa.text(seed_query))
        ]
    frame = ModelService(owner, user_id=admin).usage_stats()
    actual = sorted(
        (r.display_name, r.total_jobs, r.completed_jobs, r.failed_jobs, r.avg_quality_rating)
        for r in frame.astype(object).where(frame.notna(), None).itertuples()
    )
    assert actual == sorted(expected)
    # A plain user's figures are counted from the jobs they can see, whatever the status column's type.
    assert ModelService(owner, user_id=user).usage_stats()["total_jobs"].sum() > 0


def test_anon_can_reach_nothing_new(live):
    superuser, owner, _ = live
    before = anon_reach(superuser)
    migrate(owner)
    assert anon_reach(superuser) - before == set()


def test_the_advisors_facts_hold_for_everything_of_ours(live):
    """What Supabase's database advisor checks: fixed search paths, definer functions anon cannot call, RLS."""
    superuser, owner, _ = live
    migrate(owner)
    assert advisor_findings(superuser) == []


def test_the_plan_says_what_will_be_added_and_what_never_is_before_anything_changes(live):
    superuser, owner, shape = live
    before = snapshot(superuser)
    with owner.connect() as conn:
        found = inspect_shape(conn.connection.driver_connection, [m.version for m in load_migrations()])
    sections = dict(plan(found))
    assert snapshot(superuser) == before
    assert found.live
    text = json.dumps(sections)
    assert "create, alter or grant anything in schema auth" in text
    assert "CREATE INDEX CONCURRENTLY" in text
    assert "public.jobs: AFTER INSERT and DELETE statement triggers" in text
    if "no-rating" in shape.name:
        assert "ratings not counted (no quality_rating)" in text
    assert not any("create public.api_models" in line for line in sections["Will create"])


def test_an_interrupted_index_build_is_finished_on_the_next_run(live):
    superuser, owner, _ = live
    migrate(owner)
    with superuser.begin() as conn:  # what a CREATE INDEX CONCURRENTLY cut short leaves: an invalid index
        conn.execute(sa.text("drop index idx_api_models_priority"))
        conn.execute(sa.text("create index idx_api_models_priority on api_models (priority, is_active)"))
        conn.execute(
            sa.text("update pg_index set indisvalid = false where indexrelid = 'idx_api_models_priority'::regclass")
        )
    migrate(owner)
    with superuser.connect() as conn:
        valid = "select indisvalid from pg_index where indexrelid = 'idx_api_models_priority'::regclass"
        assert conn.execute(sa.text(valid)).scalar()


def test_the_dashboard_reads_and_writes_on_the_live_catalogue(live):
    superuser, owner, _ = live
    admin, user = _people(superuser)
    migrate(owner)
    models = ModelService(owner, user_id=admin)
    assert {m["model_key"] for m in models.list_active_models()} >= {"live/sdxl", "live/omni"}
    sdxl = next(m for m in models.list_active_models() if m["model_key"] == "live/sdxl")
    model = models.get_model(sdxl["id"])
    updated = models.update_model(model["id"], {"priority": 3}, expected_version=model["row_version"])
    assert updated["priority"] == 3 and updated["updated_at"] > model["updated_at"]
    assert [m["model_key"] for m in ModelService(owner, user_id=user).list_active_models()]
    with superuser.connect() as conn:
        assert conn.execute(sa.text("select count(*) from dashboard.audit_log")).scalar() >= 1


def test_the_sql_applied_through_another_pipeline_leaves_migrate_nothing_to_do(live):
    superuser, owner, _ = live
    admin, user = _people(superuser)
    before = snapshot(superuser)
    parts = migration_sql(owner)
    assert [p.in_transaction for p in parts] == [True] + [False] * len(SEED_INDEXES) + [True, False]
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        pg = conn.connection.driver_connection
        for part in parts:
            if part.in_transaction:
                with pg.transaction():
                    pg.execute(part.sql)
            else:
                pg.execute(part.sql)
    report: list[str] = []
    assert migrate(owner, report=report) == []
    assert [line for line in report if not line.startswith("rule not enforced")] == []
    assert snapshot(superuser) == before
    _platform_writes(owner, live[2], admin, user)


def test_people_sign_in_as_supabase_auth_would_let_them(live):
    """Accounts as Supabase Auth writes them, checked through the migrating role (no superuser): a confirmed one
    signs in, a banned, deleted or unconfirmed one is refused, one with an authenticator app must give its code."""
    superuser, owner, _ = live
    migrate(owner)
    plain = gotrue_user(superuser, "plain@platform.test", role="admin")
    gotrue_user(superuser, "banned@platform.test", banned_until="infinity")
    gotrue_user(superuser, "gone@platform.test", deleted=True)
    gotrue_user(superuser, "new@platform.test", confirmed=False)
    secret = add_factor(superuser, gotrue_user(superuser, "mfa@platform.test"))
    password = "correct horse battery"
    assert sign_in(owner, email="plain@platform.test", password=password).user_id == plain
    for email in ("banned@platform.test", "gone@platform.test", "new@platform.test"):
        result = sign_in(owner, email=email, password=password)
        assert result.user_id is None and result.refused, email
        assert sign_in(owner, email=email, password="wrong password!").refused is None, "told without the password"
    challenged = sign_in(owner, email="mfa@platform.test", password=password)
    assert challenged.user_id is None and challenged.challenge is not None
    assert verify_code(owner, challenged.challenge, code=pyotp.TOTP(secret).now()).user_id is not None
    identity = load_identity(owner, plain)
    assert (identity.email, identity.is_admin) == ("plain@platform.test", True)


def test_the_overview_names_live_jobs_policies_that_let_people_forge_figures(live):
    superuser, owner, _ = live
    admin, _user = _people(superuser)
    migrate(owner)
    overview = CatalogueService(owner, user_id=admin).overview()
    assert overview.jobs_open_to_people == ["Users create own jobs", "Users update own jobs"]
    assert "1 model: modality outside text, image, video and audio" in overview.rule_breaks


def test_the_dashboards_own_jobs_table_is_not_flagged(engine):
    admin = make_user(engine, "admin")
    assert CatalogueService(engine, user_id=admin).overview().jobs_open_to_people == []
