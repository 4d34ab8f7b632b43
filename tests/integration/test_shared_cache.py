"""When one cached read may serve every person of a role: the catalogue's read policies as read_policies() judges
them, and the reads that replace whole-table scans (each paying the policy's per-row check) with cheaper ones."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.database import create_db_engine
from dashboard.queries import catalogue as q
from dashboard.services.catalogue import (
    CatalogueService,
    ModelFilters,
    calls_per_row,
    policy_expression,
    read_policies,
)
from dashboard.services.providers import ProviderService
from tests import hostile
from tests.factories import make_model, make_provider, make_user
from tests.live_shapes import SHAPES, build

SEED_ADMIN = "has_role(auth.uid(), 'admin'::app_role)"


def _policy(engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql))


def test_the_seeds_policies_show_everyone_of_a_role_the_same_rows(engine):
    policies = read_policies(engine)
    assert policies.same_rows_per_role
    assert policies.admins_see_every_job
    assert policies.per_row_checks == ("Admins can manage models",)  # the seed's text, kept as it is


def test_the_seeds_policy_wrapped_in_select_is_still_shared_and_no_longer_checked_per_row(engine):
    _policy(
        engine,
        'alter policy "Admins can manage models" on api_models '
        "using ((select has_role((select auth.uid()), 'admin'::app_role)))",
    )
    policies = read_policies(engine)
    assert policies.same_rows_per_role
    assert policies.per_row_checks == ()


@pytest.mark.parametrize(
    "policy",
    [
        # rows per owner
        'create policy "Another read" on api_models for select to authenticated using (created_by = auth.uid())',
        # another role than the one the cache key holds
        'create policy "Another read" on api_models for select to authenticated '
        "using (has_role(auth.uid(), 'moderator'::app_role))",
        'create policy "Another read" on api_models for select to authenticated '
        "using (has_role(auth.uid(), 'admin'::app_role) and created_by = auth.uid())",
        'create policy "Another read" on api_models for select to authenticated '
        "using ((current_setting('request.jwt.claims', true)::jsonb ->> 'email') like '%@example.com')",
        'create policy "Another read" on api_models as restrictive for select to authenticated '
        "using (display_name <> 'admin')",
    ],
)
def test_any_other_read_policy_on_the_catalogue_shares_nothing(engine, policy):
    _policy(engine, policy)
    assert not read_policies(engine).same_rows_per_role


def test_a_providers_policy_per_person_shares_nothing(engine):
    _policy(
        engine,
        'create policy "Own providers" on api_providers as restrictive for select to authenticated '
        "using (base_url = auth.uid()::text)",
    )
    assert not read_policies(engine).same_rows_per_role


def test_a_table_without_rls_is_the_same_for_everyone(engine):
    _policy(engine, "alter table api_providers disable row level security")
    _policy(engine, 'create policy "Own providers" on api_providers for select using (base_url = auth.uid()::text)')
    assert read_policies(engine).same_rows_per_role  # the policy is not applied while RLS is off


def test_a_restrictive_jobs_policy_keeps_the_overview_per_person(engine):
    _policy(
        engine,
        'create policy "Own jobs only" on jobs as restrictive for select to authenticated using (user_id = auth.uid())',
    )
    policies = read_policies(engine)
    assert policies.same_rows_per_role  # the catalogue's reads still are
    assert not policies.admins_see_every_job


def test_a_live_projects_policies_are_read_as_they_are(fresh_database):
    """Supabase-today's shape: the seed's api_models policies and its own providers' (shared), jobs each person's
    own (the Overview's job figures then per person), and the per-row check named for the Overview."""
    superuser = create_db_engine(fresh_database)
    try:
        build(superuser, SHAPES[0])
        policies = read_policies(superuser)
    finally:
        superuser.dispose()
    assert policies.same_rows_per_role
    assert not policies.admins_see_every_job
    assert policies.per_row_checks == ("Admins can manage models",)


def test_policy_expressions_compare_outside_their_string_literals_only():
    assert policy_expression(SEED_ADMIN) == policy_expression("HAS_ROLE( auth.uid(),'admin'::public.app_role )")
    assert policy_expression("( SELECT has_role(( SELECT auth.uid() AS uid), 'admin'::app_role) AS has_role)") == (
        policy_expression(SEED_ADMIN)
    )
    assert policy_expression("(is_active = true)") == "is_active=true"
    # Inside quotes, case and spaces are the value: never the seed's role.
    assert policy_expression("has_role(auth.uid(), 'ad min'::app_role)") != policy_expression(SEED_ADMIN)
    assert policy_expression("has_role(auth.uid(), 'Admin'::app_role)") != policy_expression(SEED_ADMIN)
    assert policy_expression("(a) or (b)") == "(a)or(b)"  # only parentheses around the whole are dropped
    assert policy_expression(None) is None


def test_per_row_calls_are_those_outside_a_select():
    assert calls_per_row(SEED_ADMIN)
    assert calls_per_row("has_role(( SELECT auth.uid() AS uid), 'admin'::app_role)")  # has_role itself per row
    assert calls_per_row("user_id = auth.uid()")
    assert not calls_per_row("( SELECT has_role(( SELECT auth.uid() AS uid), 'admin'::app_role) AS has_role)")
    assert not calls_per_row("user_id = ( SELECT auth.uid() AS uid)")
    assert not calls_per_row("is_active = true")
    assert not calls_per_row(None)


@pytest.mark.parametrize("role", ["admin", "user"])
def test_the_skipping_task_list_is_the_distinct_one(engine, role):
    provider = make_provider(engine)
    for n, task in enumerate([*hostile.TEXT, "generation", "Generation", "générer"]):
        make_model(engine, provider, modality=["image", "text", "audio"][n % 3], task=task, is_active=n % 2 == 0)
    person = make_user(engine, role=role)
    service = CatalogueService(engine, user_id=person)
    assert service.list_tasks() == [(r["modality"], r["task"]) for r in service._rows(q.DISTINCT_TASKS)]
    assert len(service.list_tasks()) >= (4 if role == "user" else 9)


@pytest.mark.parametrize("search", ["", "model", hostile.SQL, "%", "_", hostile.LINK, hostile.NUL])
def test_counting_and_paging_apart_agree_with_browsing(engine, search):
    provider = make_provider(engine)
    for n, name in enumerate([*hostile.TEXT, "Model 100%", "model_under", "Plain"]):
        make_model(engine, provider, display_name=name, is_active=n % 3 != 0)
    for role in ("admin", "user"):
        service = CatalogueService(engine, user_id=make_user(engine, role=role))
        filters = ModelFilters(search=search, sort="name")
        rows, total = service.browse_models(filters, limit=3, offset=1)
        assert service.count_models(filters) == total
        assert service.models_page(filters, limit=3, offset=1) == rows


def test_provider_choices_are_the_providers_without_their_counts(engine):
    make_provider(engine, display_name=hostile.LINK)
    make_provider(engine, display_name="b", is_active=False)
    service = CatalogueService(engine, user_id=make_user(engine, role="user"))
    full = ProviderService(engine, user_id=service.user_id).list_providers()
    keys = ("id", "name", "display_name", "is_active")
    assert service.provider_choices() == [{k: p[k] for k in keys} for p in full]


def _catalogue(engine) -> None:
    active, inactive = make_provider(engine), make_provider(engine, is_active=False)
    for n, name in enumerate([*hostile.TEXT, "Plain", "Other"]):
        make_model(
            engine,
            active if n % 4 else inactive,
            display_name=name,
            task=["generation", "upscale", hostile.SQL][n % 3],
            is_active=n % 3 != 1,
            is_default=n < 3,
        )


def test_the_overview_counts_its_models_from_the_slots_where_the_rules_are_enforced(engine):
    _catalogue(engine)
    admin = CatalogueService(engine, user_id=make_user(engine, role="admin"))
    [counted] = admin._rows(q.CATALOGUE_COUNTS)
    overview = admin.overview(jobs=False)
    assert overview.counts == counted
    assert overview.rule_breaks == []


def test_where_a_rule_is_not_enforced_the_overview_counts_the_rows_that_break_it(engine):
    _catalogue(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("alter table api_models drop constraint api_models_json_objects_check"))
        conn.execute(sa.text("update api_models set pricing = '[]' where display_name = 'Plain'"))
    admin = CatalogueService(engine, user_id=make_user(engine, role="admin"))
    [counted] = admin._rows(q.CATALOGUE_COUNTS)
    overview = admin.overview(jobs=False)
    assert overview.counts == counted
    assert overview.rule_breaks == ["1 model: JSON fields that are not objects"]
