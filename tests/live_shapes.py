"""Databases laid out as live Supabase projects are, for the tests that attach the dashboard to them.

Built from Supabase's published facts (GUIDE.md, "Live projects"), not from its SQL: the auth schema is owned
by an auth admin role, and the migrating role is like Supabase's postgres: not a superuser, with CREATEROLE
and BYPASSRLS, a member of anon, authenticated and service_role, with USAGE on auth but no CREATE there.
The platform's own tables (owned by that role, as on Supabase) vary by shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests import supabase_auth

OWNER = "live_owner"  # Supabase's postgres
AUTH_ADMIN = "live_auth_admin"  # Supabase's supabase_auth_admin

_ROLES = f"""
do $do$
begin
  if not exists (select 1 from pg_roles where rolname = '{OWNER}') then
    create role {OWNER} login createrole bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = '{AUTH_ADMIN}') then
    create role {AUTH_ADMIN} nologin;
  end if;
end
$do$;
grant anon, authenticated, service_role to {OWNER};
"""

# Run as the superuser: Supabase Auth's tables (tests/supabase_auth.py) handed to the auth admin, the
# quickstart profiles (whose trigger on auth.users only such a role may create) handed to the owner.
_AUTH = (
    supabase_auth.USERS
    + supabase_auth.FACTORS_AND_IDENTITIES
    + supabase_auth.QUICKSTART_PROFILES
    + f"""
grant create, connect on database current_database_placeholder to {OWNER};
alter schema public owner to {OWNER};
alter schema auth owner to {AUTH_ADMIN};
grant usage on schema auth to {OWNER};
alter table auth.users owner to {AUTH_ADMIN};
alter table auth.mfa_factors owner to {AUTH_ADMIN};
alter table auth.identities owner to {AUTH_ADMIN};
alter function auth.uid() owner to {AUTH_ADMIN};
alter type auth.factor_type owner to {AUTH_ADMIN};
alter type auth.factor_status owner to {AUTH_ADMIN};
grant select, insert, update, delete, references on auth.users, auth.identities, auth.mfa_factors to {OWNER};
alter table public.profiles owner to {OWNER};
alter function public.handle_new_user() owner to {OWNER};
"""
)

# Run as the owner: the platform's own catalogue, as the seed describes it plus what projects add.
_PLATFORM = """
create type public.app_role as enum ('admin', 'moderator', 'user');
create table public.user_roles (id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users on delete cascade, role public.app_role not null,
  unique (user_id, role));
create function public.has_role(_user_id uuid, _role public.app_role) returns boolean language sql stable
  security definer set search_path = public as
  $$ select exists (select 1 from user_roles where user_id = _user_id and role = _role) $$;
create table public.api_providers (id uuid primary key default gen_random_uuid(), name text not null unique,
  display_name text not null, base_url text, auth_scheme text, is_active boolean not null default true,
  rate_limit integer, created_at timestamptz not null default now(), updated_at timestamptz not null default now());
create table public.api_models (
  id uuid primary key default gen_random_uuid(), created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(), created_by uuid references public.profiles(id),
  provider_id uuid not null references public.api_providers(id), model_key text not null, version text,
  display_name text not null, modality text not null, task text not null, model_family text, endpoint_path text,
  input_defaults jsonb not null default '{}', capabilities jsonb not null default '{}',
  pricing jsonb not null default '{}', output_format text, is_active boolean not null default true,
  is_default boolean not null default false, priority integer not null default 0, notes text);
alter table public.api_models enable row level security;
CREATE POLICY "Active models readable" ON api_models FOR SELECT TO authenticated USING (is_active = true);
CREATE POLICY "Admins can manage models" ON api_models FOR ALL TO authenticated
  USING (has_role(auth.uid(), 'admin'::app_role));
alter table public.api_providers enable row level security;
create policy "Providers readable" on public.api_providers for select to authenticated using (true);
create policy "Admins manage providers" on public.api_providers for all to authenticated
  using (has_role(auth.uid(), 'admin'::app_role));
alter table public.user_roles enable row level security;
create policy "Own roles" on public.user_roles for select to authenticated using (user_id = auth.uid());
comment on table public.api_models is 'Platform: the models our queue-job function routes to.';
comment on table public.api_providers is 'Platform: upstream APIs.';
comment on column public.api_models.notes is 'Free text for the ops team.';
"""

_JOBS_SEED_LIKE = """
create table public.jobs (id uuid primary key default gen_random_uuid(), user_id uuid references auth.users,
  api_model_id uuid references public.api_models(id), status text not null default 'queued',
  quality_rating smallint, prompt text, created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(), completed_at timestamptz);
"""
# Common on real projects: an enum status, no updated_at, a rating of another type or none.
_JOBS_ENUM = """
create type public.job_status as enum ('queued', 'processing', 'completed', 'failed', 'cancelled');
create table public.jobs (id uuid primary key default gen_random_uuid(), user_id uuid references auth.users,
  api_model_id uuid references public.api_models(id), status public.job_status not null default 'queued',
  quality_rating integer check (quality_rating between 1 and 5), prompt text,
  created_at timestamptz not null default now(), completed_at timestamptz);
"""
_JOBS_NO_RATING = """
create type public.job_status as enum ('pending', 'running', 'completed', 'failed');
create table public.jobs (id bigint generated always as identity primary key, user_id uuid,
  api_model_id uuid references public.api_models(id), status public.job_status not null default 'pending',
  created_at timestamp not null default now());
"""
_JOBS_POLICIES = """
alter table public.jobs enable row level security;
create policy "Users read own jobs" on public.jobs for select to authenticated using (user_id = auth.uid());
create policy "Users create own jobs" on public.jobs for insert to authenticated with check (user_id = auth.uid());
create policy "Users update own jobs" on public.jobs for update to authenticated using (user_id = auth.uid());
comment on table public.jobs is 'Platform: generation jobs.';
"""
# Supabase's default grants in public: every API role gets everything, RLS decides.
_GRANTS = """
grant usage on schema public to anon, authenticated, service_role;
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant execute on all functions in schema public to anon, authenticated, service_role;
"""
_HARDENED = """
revoke all on all tables in schema public from anon;
revoke all on all functions in schema public from anon, public;
grant execute on all functions in schema public to authenticated, service_role;
"""
_PROVIDER = "00000000-0000-0000-0000-0000000000aa"
# Rows the seed's rules would refuse: the dashboard reports them and never stops the platform writing more.
_ROWS = f"""
insert into public.api_providers (id, name, display_name) values ('{_PROVIDER}', 'live', 'Live');
insert into public.api_models (provider_id, model_key, display_name, modality, task, is_default, priority, notes)
values ('{_PROVIDER}', 'live/sdxl', 'Live SDXL', 'image', 'generation', true, 1, 'keep me'),
       ('{_PROVIDER}', 'live/omni', 'Omni', 'multimodal', 'chat', false, 0, null);
"""
_TWO_DEFAULTS = f"""
insert into public.api_models (provider_id, model_key, display_name, modality, task, is_default)
values ('{_PROVIDER}', 'live/flux', 'Live Flux', 'image', 'generation', true);
"""


@dataclass(frozen=True)
class LiveShape:
    name: str
    jobs: str = _JOBS_SEED_LIKE
    hardened: bool = False
    two_defaults: bool = False

    def __str__(self) -> str:
        return self.name


SHAPES = [
    LiveShape("supabase-today"),
    LiveShape("enum-status-no-updated-at", jobs=_JOBS_ENUM, hardened=True),
    LiveShape("no-rating-two-defaults", jobs=_JOBS_NO_RATING, two_defaults=True),
]


def owner_url(url: str) -> str:
    return sa.engine.make_url(url).set(username=OWNER, password=None).render_as_string(hide_password=False)


def build(superuser: Engine, shape: LiveShape) -> None:
    """Lay the shape out in the (empty) database the engine points at."""
    with superuser.begin() as conn:
        conn.exec_driver_sql(supabase_auth.ROLES + _ROLES)
        database = conn.exec_driver_sql("select current_database()").scalar_one()
        conn.exec_driver_sql(_AUTH.replace("current_database_placeholder", f'"{database}"'))
        conn.exec_driver_sql(f"set local role {OWNER}")
        conn.exec_driver_sql(_PLATFORM + shape.jobs + _JOBS_POLICIES + _GRANTS + _ROWS)
        if shape.hardened:
            conn.exec_driver_sql(_HARDENED)
        if shape.two_defaults:
            conn.exec_driver_sql(_TWO_DEFAULTS)


PLATFORM_TABLES = ("public.profiles", "public.user_roles", "public.api_providers", "public.api_models", "public.jobs")
_SNAPSHOT_QUERIES = {
    "columns": """select table_schema, table_name, column_name, data_type, is_nullable, column_default
                  from information_schema.columns where table_schema in ('public', 'auth') order by 1, 2, 3""",
    "constraints": """select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint
                      where connamespace in ('public'::regnamespace, 'auth'::regnamespace) order by 1, 2""",
    "comments": """select c.oid::regclass::text, d.objsubid, d.description from pg_description d
                   join pg_class c on c.oid = d.objoid where c.relnamespace in ('public'::regnamespace,
                   'auth'::regnamespace) order by 1, 2""",
    "grants": """select c.oid::regclass::text, c.relacl::text from pg_class c
                 where c.relnamespace in ('public'::regnamespace, 'auth'::regnamespace)
                   and c.relkind in ('r', 'v', 'm', 'p', 'S') order by 1""",
    "function_grants": """select p.oid::regprocedure::text, p.proacl::text, p.proconfig::text, p.prosrc from pg_proc p
                          where p.pronamespace in ('public'::regnamespace, 'auth'::regnamespace) order by 1""",
    "policies": """select schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
                   from pg_policies where schemaname in ('public', 'auth') order by 1, 2, 3""",
    # Ours are named dashboard_*; everything else on their tables must stay as it was.
    "triggers": """select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) from pg_trigger
                   where not tgisinternal and tgname not like 'dashboard\\_%' order by 1, 2""",
    "indexes": """select tablename, indexname, indexdef from pg_indexes where schemaname in ('public', 'auth')
                  and indexname not like 'idx\\_api\\_models\\_%' order by 1, 2""",
    "rls": """select oid::regclass::text, relrowsecurity, relforcerowsecurity from pg_class
              where relnamespace in ('public'::regnamespace, 'auth'::regnamespace) and relkind = 'r' order by 1""",
}


def snapshot(engine: Engine) -> dict[str, list]:
    """Everything of the platform's that the dashboard must leave as it found it, data included."""
    with engine.connect() as conn:
        taken = {name: [tuple(row) for row in conn.execute(sa.text(sql))] for name, sql in _SNAPSHOT_QUERIES.items()}
        for table in PLATFORM_TABLES + ("auth.users",):
            rows = conn.execute(sa.text(f"select to_jsonb(t)::text from {table} t order by 1")).scalars()
            taken[f"rows of {table}"] = list(rows)
    return taken


_ANON_REACH = """
select 'table ' || c.oid::regclass::text || ' ' || p.privilege
from pg_class c cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) p(privilege)
where c.relnamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  and c.relnamespace::regnamespace::text not like 'pg\\_%' and c.relkind in ('r', 'v', 'm', 'p', 'S')
  and has_table_privilege('anon', c.oid, p.privilege)
union all
select 'function ' || f.oid::regprocedure::text from pg_proc f
where f.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  and has_schema_privilege('anon', f.pronamespace, 'USAGE') and has_function_privilege('anon', f.oid, 'EXECUTE')
union all
select 'schema ' || n.nspname from pg_namespace n
where n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema' and has_schema_privilege('anon', n.oid, 'USAGE')
"""


def anon_reach(engine: Engine) -> set[str]:
    """Every table, sequence, function and schema the anon role can use."""
    with engine.connect() as conn:
        return set(conn.execute(sa.text(_ANON_REACH)).scalars())


# Supabase's database advisor, as facts about what is ours: every function in schema dashboard with its
# search_path set to '' exactly (what its lint 0011 asks; a fixed non-empty path still counts as mutable); no
# security-definer function of ours that anon may call, nor authenticated beyond the four meant for people
# (folding usage and reading it from jobs, which check for an admin, reading who one is, and the catalogue's data
# version, which says only how many catalogue writes there were and whether one is uncommitted); RLS on every
# table of ours.
_ADVISOR = """
select 'search_path not empty: ' || p.oid::regprocedure::text from pg_proc p
where p.pronamespace = 'dashboard'::regnamespace
  and not coalesce(p.proconfig, '{}') && array['search_path=""']
union all
select 'security definer callable by anon or people: ' || p.oid::regprocedure::text from pg_proc p
where p.pronamespace = 'dashboard'::regnamespace and p.prosecdef
  and (has_function_privilege('anon', p.oid, 'EXECUTE')
       or has_function_privilege('authenticated', p.oid, 'EXECUTE')
          and p.proname not in ('fold_job_usage', 'signed_in_identity', 'job_usage_from_jobs', 'catalogue_version'))
union all
select 'table without RLS: ' || relname from pg_class
where relnamespace = 'dashboard'::regnamespace and relkind = 'r' and not relrowsecurity
"""


def advisor_findings(engine: Engine) -> list[str]:
    """What the advisor would flag in schema dashboard (nothing, we hope)."""
    with engine.connect() as conn:
        return list(conn.execute(sa.text(_ADVISOR)).scalars())
