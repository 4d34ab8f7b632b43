-- 0010 — at home on a live platform: nothing of ours can refuse, fail or hold up a write the platform's
-- own code makes, nothing of ours is reachable by anon, and every function of ours has a fixed search_path.
--
-- Before this, migrations changed a live project's tables: a BEFORE trigger setting updated_at (every
-- UPDATE failed on a jobs table without that column), CHECK constraints and a unique index that could
-- refuse the platform's writes, usage triggers that named columns a live jobs table may lack, and a
-- data-version counter whose row lock made concurrent catalogue writers queue (and could deadlock two that
-- wrote models and providers in opposite orders). This file undoes those on tables that are not ours and
-- rebuilds what we attach to them so that it is safe for any column set.
-- Waits at most 10 s for a lock: behind a long transaction it fails (run it again) instead of holding up
-- every writer queued behind it.
set local lock_timeout = '10s';

-- ─── Which platform objects are ours ───────────────────────────────────────────────────────────
-- Since 0001 records them, a database migrated before that has no records: there, a table counts as
-- ours when its columns are exactly the ones the earlier 0001-0003 created it with (a live table
-- always differs), and the type and function along with the table that needs them.
do $do$
declare
  expected constant jsonb := '{
    "auth.users": ["id", "email", "encrypted_password", "raw_user_meta_data", "created_at", "updated_at"],
    "public.profiles": ["id", "email", "display_name", "created_at", "updated_at"],
    "public.user_roles": ["id", "user_id", "role", "created_at"],
    "public.api_providers": ["id", "name", "display_name", "base_url", "auth_scheme", "is_active", "created_at",
                             "updated_at"],
    "public.api_models": ["id", "created_at", "updated_at", "created_by", "provider_id", "model_key", "version",
                          "display_name", "modality", "task", "model_family", "endpoint_path", "input_defaults",
                          "capabilities", "pricing", "output_format", "is_active", "is_default", "priority"],
    "public.jobs": ["id", "user_id", "api_model_id", "status", "quality_rating", "error_message", "created_at",
                    "updated_at", "completed_at"]
  }';
  t text;
begin
  if exists (select 1 from dashboard.created_objects where object = '(recorded from the start)') then
    return;
  end if;
  for t in select jsonb_object_keys(expected) loop
    if pg_catalog.to_regclass(t) is not null and (
         select pg_catalog.jsonb_agg(a.attname::text order by a.attnum) from pg_catalog.pg_attribute a
         where a.attrelid = pg_catalog.to_regclass(t) and a.attnum > 0 and not a.attisdropped
       ) = expected -> t then
      insert into dashboard.created_objects (object) values (t) on conflict do nothing;
    end if;
  end loop;
  if exists (select 1 from dashboard.created_objects where object = 'auth.users') then
    insert into dashboard.created_objects (object) values ('auth'), ('auth.uid') on conflict do nothing;
  end if;
  if exists (select 1 from dashboard.created_objects where object = 'public.user_roles') then
    insert into dashboard.created_objects (object) values ('public.app_role'), ('public.has_role')
    on conflict do nothing;
  end if;
  insert into dashboard.created_objects (object) values ('(recorded from the start)');
end
$do$;

-- ─── Undo what earlier versions added to tables that are not ours ──────────────────────────────
do $do$
declare
  t text;
begin
  foreach t in array array['public.profiles', 'public.api_providers', 'public.api_models', 'public.jobs'] loop
    if pg_catalog.to_regclass(t) is not null
       and not exists (select 1 from dashboard.created_objects where object = t)
       and exists (select 1 from pg_catalog.pg_trigger where tgrelid = pg_catalog.to_regclass(t)
                   and tgname = 'dashboard_touch_updated_at') then
      execute pg_catalog.format('drop trigger dashboard_touch_updated_at on %s', t);
    end if;
  end loop;
  if pg_catalog.to_regclass('public.api_models') is not null
     and not exists (select 1 from dashboard.created_objects where object = 'public.api_models') then
    alter table public.api_models drop constraint if exists api_models_modality_check,
      drop constraint if exists api_models_json_objects_check,
      drop constraint if exists api_models_text_not_blank_check;
    drop index if exists public.api_models_one_default_per_slot;
  end if;
end
$do$;
drop function if exists dashboard.add_check_if_missing(regclass, text, text);

-- ─── Catalogue writes counted by a sequence, not a row ─────────────────────────────────────────
-- nextval() takes no lock that lasts and cannot be rolled back, so writers never wait on each other
-- here. A rolled-back write still counts, which only costs caches one extra refresh.
create sequence if not exists dashboard.catalogue_writes;
comment on sequence dashboard.catalogue_writes is
  'Bumped by a statement trigger on every write to api_models and api_providers; part of every cache key.';
create or replace function dashboard.bump_data_version() returns trigger
language plpgsql security definer
set search_path = ''
as $fn$
begin
  perform pg_catalog.nextval('dashboard.catalogue_writes'::pg_catalog.regclass);
  return null;
end
$fn$;
comment on function dashboard.bump_data_version() is
  'Statement trigger on the catalogue: bumps dashboard.catalogue_writes so that caches know when to refresh.';
drop table if exists dashboard.data_version;
grant select on sequence dashboard.catalogue_writes to authenticated, service_role;

-- ─── The audit trigger never fails the platform's write ───────────────────────────────────────
-- The owner may not be allowed to read auth.users (Supabase's postgres can lose that right); the email is
-- then left empty rather than failing the write that is being recorded.
create or replace function dashboard.audit_row() returns trigger
language plpgsql security definer
set search_path = ''
as $fn$
declare
  before_row jsonb := case when tg_op = 'INSERT' then null else pg_catalog.to_jsonb(old) end;
  after_row  jsonb := case when tg_op = 'DELETE' then null else pg_catalog.to_jsonb(new) end;
  who        uuid  := auth.uid();
  who_email  text;
begin
  -- An update that changes nothing but updated_at (a no-op save) is not history.
  if tg_op = 'UPDATE' and (before_row - 'updated_at') = (after_row - 'updated_at') then
    return null;
  end if;
  if who is not null then
    begin
      select u.email into who_email from auth.users u where u.id = who;
    exception when insufficient_privilege or undefined_table or undefined_column then
      who_email := null;
    end;
  end if;
  insert into dashboard.audit_log (table_name, row_id, action, actor_id, actor_email, db_role, application,
                                   old_row, new_row)
  values (tg_table_name, (coalesce(after_row, before_row) ->> 'id')::uuid, pg_catalog.lower(tg_op), who, who_email,
          case when pg_catalog.current_setting('role') = 'none' then session_user::text
               else pg_catalog.current_setting('role') end,
          nullif(pg_catalog.current_setting('application_name', true), ''),
          before_row, after_row);
  return null;
end
$fn$;

-- ─── Usage capture on any jobs table ──────────────────────────────────────────────────────────
-- The triggers and the first count are built for the jobs table the database has by
-- dashboard.install_usage_capture() (migration 0013) and db/live.py: AFTER triggers that insert into an
-- unindexed table of ours with its owner's rights, so they cannot refuse a write, and a count that holds
-- none of the platform's writes. Whether the rollups still need that first count:
create table if not exists dashboard.usage_state (
  id         boolean primary key default true check (id),
  counted_at timestamptz  -- when the rollups were last counted from jobs; null: db/live.py counts them
);
comment on table dashboard.usage_state is 'Whether the usage rollups have been counted from jobs yet.';
alter table dashboard.usage_state enable row level security;
insert into dashboard.usage_state (id, counted_at)
select true, case when exists (select 1 from pg_catalog.pg_trigger where tgname = 'dashboard_job_usage_insert'
                                and tgrelid = pg_catalog.to_regclass('public.jobs')) then now() end
on conflict do nothing;

-- Readers now compose the rollups themselves (dashboard/queries/usage.py), with the day bounds worked out
-- before the query is sent, so these are no longer needed.
drop function if exists dashboard.job_usage(timestamptz, timestamptz);
drop function if exists dashboard.usage_day_hi(timestamptz, timestamptz);
drop function if exists dashboard.usage_day_lo(timestamptz, timestamptz);

-- ─── Fixed search paths, and nothing of ours for anon or PUBLIC ────────────────────────────────
-- The bodies below already name every object with its schema; with an empty search_path only
-- pg_catalog is searched, so no function or operator planted elsewhere can stand in for one of its own.
alter function dashboard.touch_updated_at() set search_path = '';
alter function dashboard.reset_job_usage() set search_path = '';
alter function dashboard.fold_job_usage() set search_path = '';
alter function dashboard.prune_sign_in_attempts(interval) set search_path = '';
alter function dashboard.begin_sign_in_attempt(bytea, inet, integer, integer, interval) set search_path = '';
alter function dashboard.sign_in_attempt_succeeded(bigint) set search_path = '';
alter function dashboard.sign_in_account(text) set search_path = '';
do $do$
begin
  if exists (select 1 from dashboard.created_objects where object = 'public.has_role') then
    alter function public.has_role(uuid, public.app_role) set search_path = '';
    revoke all on function public.has_role(uuid, public.app_role) from public, anon;
    grant execute on function public.has_role(uuid, public.app_role) to authenticated, service_role;
  end if;
  if exists (select 1 from dashboard.created_objects where object = 'public.api_models') then
    revoke all on public.api_models from anon;
  end if;
  if exists (select 1 from dashboard.created_objects where object = 'public.api_providers') then
    revoke all on public.api_providers from anon;
  end if;
end
$do$;

revoke all on schema dashboard from public, anon;
grant usage on schema dashboard to authenticated, service_role;
revoke all on all tables in schema dashboard from public, anon;
revoke all on all sequences in schema dashboard from public, anon;
revoke all on all functions in schema dashboard from public, anon;
grant execute on function dashboard.fold_job_usage() to authenticated, service_role;
alter table dashboard.schema_migrations enable row level security;
alter table dashboard.created_objects enable row level security;
