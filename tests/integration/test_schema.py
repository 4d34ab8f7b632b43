"""api_models exactly as the seed says: columns, types, defaults, keys, indexes, RLS and policies."""

import re

import sqlalchemy as sa

from tests.live_shapes import advisor_findings, anon_reach
from tests.seed_spec import seed_columns, seed_index_statements, seed_policies

_TYPES = {
    "uuid": "uuid",
    "timestamptz": "timestamp with time zone",
    "text": "text",
    "jsonb": "jsonb",
    "boolean": "boolean",
    "integer": "integer",
}


def _columns(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            select column_name, data_type, is_nullable = 'YES' as nullable, column_default
            from information_schema.columns where table_schema = 'public' and table_name = 'api_models'
        """)
        ).all()
    return {r.column_name: r for r in rows}


def test_every_seed_column_has_its_type_and_nullability(engine):
    actual = _columns(engine)
    expected = seed_columns()
    assert len(expected) == 19
    assert set(actual) == {c.name for c in expected}
    for column in expected:
        assert actual[column.name].data_type == _TYPES[column.type], column.name
        assert actual[column.name].nullable == column.nullable, column.name


def test_every_seed_default_is_the_columns_default(engine):
    actual = _columns(engine)
    for column in seed_columns():
        default = actual[column.name].column_default
        if column.default is None:
            assert default is None or column.name == "id", column.name
            continue
        wanted = {"now()": "now()", "'{}'": "'{}'::jsonb", "true": "true", "false": "false", "0": "0"}[column.default]
        assert default == wanted, column.name
    assert actual["id"].column_default == "gen_random_uuid()"


def test_both_foreign_keys_point_where_the_seed_says(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            select a.attname as column_name, c.confrelid::regclass::text as target
            from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
            where c.conrelid = 'public.api_models'::regclass and c.contype = 'f'
        """)
        ).all()
    assert {(r.column_name, r.target) for r in rows} == {("created_by", "profiles"), ("provider_id", "api_providers")}


def test_the_five_recommended_indexes_exist_by_name_and_definition(engine):
    with engine.connect() as conn:
        actual = dict(
            conn.execute(
                sa.text(
                    "select indexname, indexdef from pg_indexes "
                    "where schemaname = 'public' and tablename = 'api_models'"
                )
            ).all()
        )
    for statement in seed_index_statements():
        name, columns = re.match(r"CREATE INDEX (\w+) ON api_models\(([^)]*)\)", statement).groups()
        assert name in actual, name
        assert f"({columns})" in actual[name], (name, actual[name])
    assert "WHERE (is_default = true)" in actual["idx_api_models_default"]


def test_rls_is_enabled_with_the_seeds_two_policies(engine):
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("select relrowsecurity from pg_class where oid = 'public.api_models'::regclass")
        ).scalar()
        policies = {
            r.policyname: r
            for r in conn.execute(
                sa.text(
                    "select policyname, cmd, roles::text[] as roles, qual, with_check from pg_policies "
                    "where tablename = 'api_models'"
                )
            )
        }
    names = [re.search(r'CREATE POLICY "([^"]+)"', p)[1] for p in seed_policies()]
    assert sorted(policies) == sorted(names) == ["Active models readable", "Admins can manage models"]
    readable, manage = policies["Active models readable"], policies["Admins can manage models"]
    assert (readable.cmd, readable.roles, readable.qual) == ("SELECT", ["authenticated"], "(is_active = true)")
    assert (manage.cmd, manage.roles) == ("ALL", ["authenticated"])
    assert manage.qual == "has_role(auth.uid(), 'admin'::app_role)"


def test_has_role_is_security_definer_with_a_fixed_search_path(engine):
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "select prosecdef, proconfig from pg_proc "
                "where proname = 'has_role' and pronamespace = 'public'::regnamespace"
            )
        ).one()
    assert row.prosecdef
    assert row.proconfig == ['search_path=""']  # only pg_catalog: nothing planted in public can answer for it


def test_an_operator_planted_in_public_cannot_answer_for_has_role(engine):
    """has_role compares app_role values; an exact-type = in public would win over pg_catalog's anyenum one."""
    with engine.begin() as conn:
        conn.exec_driver_sql("""
            create function public.always_equal(public.app_role, public.app_role) returns boolean
              language sql immutable as 'select true';
            create operator public.= (leftarg = public.app_role, rightarg = public.app_role,
                                      function = public.always_equal);
        """)
        someone = conn.execute(sa.text("select gen_random_uuid()")).scalar()
        conn.execute(sa.text("insert into auth.users (id, email) values (:id, 'x@example.com')"), {"id": someone})
        conn.execute(sa.text("insert into user_roles (user_id, role) values (:id, 'user')"), {"id": someone})
        assert conn.execute(sa.text("select has_role(:id, 'admin')"), {"id": someone}).scalar() is False


def test_jobs_has_the_columns_analytics_need(engine):
    with engine.connect() as conn:
        columns = set(
            conn.execute(
                sa.text("select column_name from information_schema.columns where table_name = 'jobs'")
            ).scalars()
        )
    assert {"id", "api_model_id", "status", "quality_rating", "created_at", "updated_at", "user_id"} <= columns


def test_what_the_dashboard_owns_lives_in_its_own_schema(engine):
    with engine.connect() as conn:
        ours = set(
            conn.execute(
                sa.text("select table_name from information_schema.tables where table_schema = 'dashboard'")
            ).scalars()
        )
    assert ours == {
        "schema_migrations",
        "created_objects",
        "usage_state",
        "job_usage_delta",
        "job_usage_delta_1",
        "job_usage_held",
        "usage_slot",
        "job_usage_hourly",
        "job_usage_daily",
        "job_usage_monthly",
        "job_usage_total",
        "job_usage_day_totals",
        "job_latency_hourly",
        "job_latency_daily",
        "job_usage_changes",
        "catalogue_changes",
        "catalogue_changes_floor",
        "audit_log",
        "sign_in_attempts",
        "sessions",
        "session_handoffs",
    }


def test_the_advisors_facts_hold_on_the_dashboards_own_database(engine):
    assert advisor_findings(engine) == []


def test_anon_reaches_nothing_of_the_catalogue_or_the_dashboard(engine):
    """anon never needs anything here: the seed's policies are all for authenticated."""
    reach = anon_reach(engine)
    assert not [r for r in reach if "dashboard" in r or "api_" in r or "has_role" in r or "jobs" in r], reach
