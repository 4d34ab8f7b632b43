"""Migrations: idempotent, raced safely, never destructive, and at home on a live Supabase database."""

from dataclasses import replace

import pytest
import sqlalchemy as sa

from dashboard.database import create_db_engine
from dashboard.services.catalogue import rule_findings
from db.migrate import MigrationError, applied_versions, load_migrations, migrate
from tests.concurrency import run_together
from tests.conftest import ALL_VERSIONS

# A database laid out as a live Supabase project might be: its own columns beyond ours, its own
# has_role and policies, rows already there.
LIVE_PROJECT = """
create schema if not exists auth;
create table auth.users (id uuid primary key default gen_random_uuid(), email text, encrypted_password text,
  aud varchar(255), phone text, created_at timestamptz default now());
create or replace function auth.uid() returns uuid language sql stable as
  $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
create type public.app_role as enum ('admin', 'moderator', 'user');
create table public.profiles (id uuid primary key references auth.users on delete cascade, email text,
  display_name text, avatar_url text, created_at timestamptz not null default now(),
  updated_at timestamptz not null default now());
create table public.user_roles (id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users on delete cascade, role app_role not null, unique (user_id, role));
create function public.has_role(_user_id uuid, _role app_role) returns boolean language sql stable
  security definer set search_path = public as
  $$ select exists (select 1 from user_roles where user_id = _user_id and role = _role) $$;
create table public.api_providers (id uuid primary key default gen_random_uuid(), name text not null unique,
  display_name text not null, base_url text, auth_scheme text, is_active boolean not null default true,
  rate_limit integer, created_at timestamptz not null default now(), updated_at timestamptz not null default now());
create table public.api_models (
  id uuid primary key default gen_random_uuid(), created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(), created_by uuid references profiles(id),
  provider_id uuid not null references api_providers(id), model_key text not null, version text,
  display_name text not null, modality text not null, task text not null, model_family text, endpoint_path text,
  input_defaults jsonb not null default '{}', capabilities jsonb not null default '{}',
  pricing jsonb not null default '{}', output_format text, is_active boolean not null default true,
  is_default boolean not null default false, priority integer not null default 0, notes text);
alter table public.api_models enable row level security;
create table public.jobs (id uuid primary key default gen_random_uuid(), user_id uuid, api_model_id uuid
  references api_models(id), status text not null default 'queued', quality_rating integer, prompt text,
  result_url text, created_at timestamptz not null default now(), updated_at timestamptz not null default now());
alter table public.jobs enable row level security;
create policy "Owners only" on public.jobs for select to authenticated using (user_id = auth.uid());
insert into api_providers (id, name, display_name) values ('00000000-0000-0000-0000-000000000001', 'live', 'Live');
insert into api_models (provider_id, model_key, display_name, modality, task, notes, is_default)
  values ('00000000-0000-0000-0000-000000000001', 'live/model', 'Live model', 'image', 'generation', 'keep me', true);
"""

_SNAPSHOT = sa.text("""
select table_schema, table_name, column_name, data_type, is_nullable, column_default
from information_schema.columns where table_schema in ('public', 'auth') order by 1, 2, 3
""")


@pytest.fixture
def fresh_engine(fresh_database):
    engine = create_db_engine(fresh_database)
    yield engine
    engine.dispose()


def test_applying_twice_changes_nothing_the_second_time(fresh_engine):
    assert migrate(fresh_engine) == ALL_VERSIONS
    with fresh_engine.connect() as conn:
        before = conn.execute(_SNAPSHOT).all()
    assert migrate(fresh_engine) == []
    with fresh_engine.connect() as conn:
        assert conn.execute(_SNAPSHOT).all() == before
    assert applied_versions(fresh_engine) == ALL_VERSIONS


def test_every_migration_file_can_run_again_on_its_own_result(fresh_engine):
    """Each file is written to be re-runnable, so a half-known state never breaks it.

    Each runs again right after it was applied, not after the later ones: 0009 reshapes a table that
    0005 creates, so 0005 run again over 0009's result would redefine readers of the old shape.
    """
    migrations = load_migrations()
    raw = fresh_engine.raw_connection()
    try:
        for i, migration in enumerate(migrations):
            migrate(fresh_engine, migrations[: i + 1])
            raw.driver_connection.execute(migration.sql)
            raw.commit()
    finally:
        raw.close()


def test_processes_starting_together_do_not_race(fresh_database):
    engines = [create_db_engine(fresh_database) for _ in range(4)]
    try:
        results, errors = run_together(migrate, engines)
    finally:
        for engine in engines:
            engine.dispose()
    assert errors == []
    assert sorted(results) == [[], [], [], ALL_VERSIONS]


def test_a_failing_migration_leaves_nothing_behind(fresh_engine):
    broken = [
        *load_migrations(),
        replace(
            load_migrations()[0], version="0099", name="broken", sql="create table half_done (id int); select 1/0;"
        ),
    ]
    with pytest.raises(MigrationError, match="0099_broken failed and was rolled back"):
        migrate(fresh_engine, broken)
    with fresh_engine.connect() as conn:
        assert conn.execute(sa.text("select to_regclass('public.half_done')")).scalar() is None
    assert "0099" not in applied_versions(fresh_engine)


def test_an_applied_migration_that_was_edited_is_refused(fresh_engine):
    migrate(fresh_engine)
    edited = [replace(m, sql=m.sql + "\n-- edited") if m.version == "0002" else m for m in load_migrations()]
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(fresh_engine, edited)


def test_on_a_live_project_nothing_of_theirs_is_dropped_or_altered(fresh_engine):
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql(LIVE_PROJECT)
    with fresh_engine.connect() as conn:
        before = conn.execute(_SNAPSHOT).all()
        has_role_before = conn.execute(sa.text("select prosrc from pg_proc where proname = 'has_role'")).scalar()
    migrate(fresh_engine)
    with fresh_engine.connect() as conn:
        after = conn.execute(_SNAPSHOT).all()
        assert set(before) <= set(after), "a column of theirs changed or disappeared"
        new_columns = {(r.table_schema, r.table_name) for r in set(after) - set(before)}
        assert new_columns == set(), f"columns were added to their tables: {new_columns}"
        assert conn.execute(sa.text("select notes from api_models")).scalar() == "keep me"
        assert (
            conn.execute(sa.text("select prosrc from pg_proc where proname = 'has_role'")).scalar() == has_role_before
        )
        jobs_policies = set(
            conn.execute(sa.text("select policyname from pg_policies where tablename = 'jobs'")).scalars()
        )
        model_policies = set(
            conn.execute(sa.text("select policyname from pg_policies where tablename = 'api_models'")).scalars()
        )
    assert jobs_policies == {"Owners only"}, "their jobs policies must not be widened"
    assert model_policies == set(), "their api_models policies (here: none) are theirs to write"


def test_on_a_live_project_the_seed_indexes_are_added_and_the_default_rule_is_reported(fresh_engine):
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql(LIVE_PROJECT)
    migrate(fresh_engine)
    with fresh_engine.connect() as conn:
        indexes = set(
            conn.execute(sa.text("select indexname from pg_indexes where tablename = 'api_models'")).scalars()
        )
    assert {"idx_api_models_active", "idx_api_models_default"} <= indexes
    assert "api_models_one_default_per_slot" not in indexes, "a unique index could refuse the platform's writes"


def test_a_live_table_with_two_defaults_in_a_slot_is_migrated_and_the_slot_reported(fresh_engine):
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql(LIVE_PROJECT)
        conn.exec_driver_sql("""insert into api_models
            (provider_id, model_key, display_name, modality, task, is_default)
            values ('00000000-0000-0000-0000-000000000001', 'live/other', 'Other', 'image', 'generation', true)""")
    report: list[str] = []
    migrate(fresh_engine, report=report)
    report += rule_findings(fresh_engine)
    assert "rule not enforced here: 2 models: more than one default in one slot (modality and task)" in report
    with fresh_engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where is_default")).scalar() == 2


def test_live_rows_that_break_the_seeds_rules_are_reported_and_the_platform_may_write_more(fresh_engine):
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql(LIVE_PROJECT)
        conn.exec_driver_sql("update api_models set modality = 'Image'")
    report: list[str] = []
    migrate(fresh_engine, report=report)
    report += rule_findings(fresh_engine)
    assert "rule not enforced here: 1 model: modality outside text, image, video and audio" in report
    with fresh_engine.begin() as conn:
        assert (
            conn.execute(sa.text("select count(*) from pg_constraint where conname like 'api_models_%_check'")).scalar()
            == 0
        )
        conn.execute(sa.text("update api_models set modality = 'Sound'"))


def test_a_database_migrated_by_the_earlier_files_is_brought_to_the_live_safe_state(fresh_engine):
    """Old 0002/0003 added a BEFORE trigger, checks and a unique index to live tables; 0010 takes them off."""
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql(LIVE_PROJECT)
        conn.exec_driver_sql("alter table jobs drop column updated_at")
    migrate(fresh_engine, load_migrations()[:9])
    with fresh_engine.begin() as conn:  # what the earlier texts left on the live tables
        conn.exec_driver_sql("""
            delete from dashboard.created_objects;
            create trigger dashboard_touch_updated_at before update on public.jobs
              for each row execute function dashboard.touch_updated_at();
            alter table api_models add constraint api_models_modality_check
              check (modality in ('text', 'image', 'video', 'audio')) not valid;
            create unique index api_models_one_default_per_slot on api_models (modality, task) where is_default;
        """)
    migrate(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.execute(sa.text("insert into jobs (api_model_id, status) select id, 'queued' from api_models"))
        conn.execute(sa.text("update jobs set status = 'completed'"))
        conn.execute(sa.text("update api_models set modality = 'multimodal'"))
        leftovers = conn.execute(
            sa.text("""
            select 'trigger' from pg_trigger where tgname = 'dashboard_touch_updated_at'
            union all select conname from pg_constraint where conname = 'api_models_modality_check'
            union all select 'index' where to_regclass('public.api_models_one_default_per_slot') is not null
        """)
        ).all()
    assert leftovers == []


def test_a_database_migrated_by_the_earlier_file_texts_takes_the_new_ones_without_an_edit_error(fresh_engine):
    migrate(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.execute(
            sa.text("update dashboard.schema_migrations set checksum = :old where version = '0002'"),
            {"old": "421c3917707936e56e7bc364bb7cbd9a1a17c2d631403dc3aa1540b3a6b3e0d3"},
        )
    assert migrate(fresh_engine) == []
    with fresh_engine.connect() as conn:
        recorded = conn.execute(sa.text("select checksum from dashboard.schema_migrations where version = '0002'"))
        assert recorded.scalar() == load_migrations()[1].checksum


def test_the_change_log_migration_waits_two_seconds_for_a_long_reader_of_the_catalogue_then_stops(fresh_engine):
    """0021 drops api_models' old trigger, whose lock would hold up the platform's reads while it waited."""
    migrations = load_migrations()
    earlier = [m for m in migrations if m.version < "0021"]
    migrate(fresh_engine, earlier)
    with fresh_engine.connect() as reader:
        reader.execute(sa.text("select count(*) from api_models"))  # a long transaction of the platform's, open
        with pytest.raises(MigrationError, match="0021_catalogue_changes failed and was rolled back"):
            migrate(fresh_engine, migrations)
        reader.rollback()
    assert "0021" not in applied_versions(fresh_engine)
    assert "0021" in migrate(fresh_engine, migrations)  # run again once the reader is gone
