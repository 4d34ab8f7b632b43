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
-- The three row triggers and the truncate trigger, built for the columns public.jobs has: the status is
-- copied as text whatever its type (an enum, often), the rating only when it is a smallint or integer
-- (anything else could fail to convert), and a created_at without time zone is read as UTC. A jobs table
-- without api_model_id (uuid), status or created_at gets no trigger, and usage is then not counted.
-- AFTER triggers that insert into an unindexed table of ours with its owner's rights: they cannot refuse
-- a write, and an update that touches none of the counted columns does not call them at all.
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

do $do$
declare
  jobs_table constant regclass := pg_catalog.to_regclass('public.jobs');
  model_type text;
  status_type text;
  created_type text;
  rating_type text;
  created_new text;
  created_old text;
  created_col text;
  rating_new text := 'null';
  rating_old text := 'null';
  rating_col text := 'null::integer';
  rating_changed text := '';
begin
  if jobs_table is null then
    return;
  end if;
  select pg_catalog.format_type(a.atttypid, null) into model_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'api_model_id' and not a.attisdropped;
  select pg_catalog.format_type(a.atttypid, null) into status_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'status' and not a.attisdropped;
  select pg_catalog.format_type(a.atttypid, null) into created_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'created_at' and not a.attisdropped;
  select pg_catalog.format_type(a.atttypid, null) into rating_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'quality_rating' and not a.attisdropped;

  drop trigger if exists dashboard_job_usage_insert on public.jobs;
  drop trigger if exists dashboard_job_usage_update on public.jobs;
  drop trigger if exists dashboard_job_usage_delete on public.jobs;
  drop trigger if exists dashboard_job_usage_truncate on public.jobs;
  if model_type is distinct from 'uuid' or status_type is null or created_type is null
     or created_type not in ('timestamp with time zone', 'timestamp without time zone') then
    raise notice 'usage is not counted: public.jobs needs api_model_id (uuid), status and created_at';
    return;
  end if;

  -- Only constant fragments written here go into the bodies below; nothing read from the database does.
  if created_type = 'timestamp with time zone' then
    created_new := 'new.created_at';
    created_old := 'old.created_at';
    created_col := 'created_at';
  else
    created_new := 'pg_catalog.timezone(''UTC'', new.created_at)';
    created_old := 'pg_catalog.timezone(''UTC'', old.created_at)';
    created_col := 'pg_catalog.timezone(''UTC'', created_at)';
  end if;
  if rating_type in ('smallint', 'integer') then
    rating_new := 'new.quality_rating';
    rating_old := 'old.quality_rating';
    rating_col := 'quality_rating::integer';
    rating_changed := ' or old.quality_rating is distinct from new.quality_rating';
  end if;

  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_insert() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into dashboard.job_usage_delta (api_model_id, status, created_at, quality_rating)
      values (new.api_model_id, new.status::text, %1$s, %2$s);
      return null;
    end $b$$f$, created_new, rating_new);
  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_delete() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into dashboard.job_usage_delta (old_api_model_id, old_status, old_created_at, old_quality_rating)
      values (old.api_model_id, old.status::text, %1$s, %2$s);
      return null;
    end $b$$f$, created_old, rating_old);
  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_update() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into dashboard.job_usage_delta (api_model_id, status, created_at, quality_rating,
                                             old_api_model_id, old_status, old_created_at, old_quality_rating)
      values (new.api_model_id, new.status::text, %1$s, %2$s, old.api_model_id, old.status::text, %3$s, %4$s);
      return null;
    end $b$$f$, created_new, rating_new, created_old, rating_old);

  -- Recounts the rollups from jobs without holding the platform's writes: the jobs it counts and the
  -- deltas it drops are read in one statement, so one snapshot: a write committed before it is in the
  -- count and its delta is dropped; one committed after keeps its delta for the next fold. Folds wait.
  execute pg_catalog.format($f$
    create or replace function dashboard.rebuild_job_usage() returns bigint
    language plpgsql set search_path = '' as $b$
    declare
      counted bigint;
    begin
      perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('dashboard.fold_job_usage'));
      truncate dashboard.job_usage_hourly, dashboard.job_usage_daily;
      with dropped as (
        delete from dashboard.job_usage_delta
      ), hourly as (
        insert into dashboard.job_usage_hourly (bucket, api_model_id, status, jobs, rated, rating_sum)
        select pg_catalog.date_trunc('hour', j.created_at, 'UTC'), j.api_model_id, j.status, count(*),
               count(j.quality_rating), coalesce(sum(j.quality_rating), 0)
        from (select api_model_id, status::text as status, %1$s as created_at, %2$s as quality_rating
              from public.jobs where api_model_id is not null) j
        group by 1, j.api_model_id, j.status
        returning *
      )
      insert into dashboard.job_usage_daily (bucket, api_model_id, status, jobs, rated, rating_sum)
      select pg_catalog.date_trunc('day', h.bucket, 'UTC'), h.api_model_id, h.status, sum(h.jobs), sum(h.rated),
             sum(h.rating_sum)
      from hourly h group by 1, h.api_model_id, h.status;
      update dashboard.usage_state set counted_at = pg_catalog.now();
      select coalesce(sum(d.jobs), 0) into counted from dashboard.job_usage_daily d;
      return counted;
    end $b$$f$, created_col, rating_col);

  create trigger dashboard_job_usage_insert after insert on public.jobs
    for each row when (new.api_model_id is not null) execute function dashboard.record_job_insert();
  create trigger dashboard_job_usage_delete after delete on public.jobs
    for each row when (old.api_model_id is not null) execute function dashboard.record_job_delete();
  execute pg_catalog.format($f$
    create trigger dashboard_job_usage_update after update on public.jobs
      for each row
      when ((old.api_model_id is not null or new.api_model_id is not null)
            and (old.api_model_id is distinct from new.api_model_id
                 or old.status is distinct from new.status
                 or old.created_at is distinct from new.created_at%1$s))
      execute function dashboard.record_job_update()$f$, rating_changed);
  create trigger dashboard_job_usage_truncate after truncate on public.jobs
    for each statement execute function dashboard.reset_job_usage();
end
$do$;
comment on function dashboard.rebuild_job_usage() is
  'Recounts the usage rollups from public.jobs without holding its writes; returns the jobs counted.';

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
