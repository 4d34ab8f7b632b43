-- 0013 — usage deltas in two tables that take turns, so that a fold frees what it folded at once.
--
-- Until now a fold DELETEd the deltas it moved into the rollups. The dead rows stayed in the table, and
-- every reader scanned them until a vacuum came by (the PostgreSQL here runs without autovacuum): after a
-- fold of ten million deltas, reads were 25 times slower than after a vacuum.
--
-- Now writers append to the active one of job_usage_delta (slot 0) and job_usage_delta_1 (slot 1), named
-- in dashboard.usage_slot. fold_job_usage() folds the other one and TRUNCATEs it, which frees it at once,
-- then makes it the active one: each fold takes what was written before the previous fold. The switch
-- replaces the trigger functions' bodies, which name their table, so a write looks nothing up; writers
-- never wait for a fold: the fold locks only the table writers have left, and gives up after a moment when
-- a transaction begun before the switch still holds it (the next fold takes it). Readers add both tables to
-- the rollups in one statement, as before.
--
-- TRUNCATE is not MVCC-safe: a statement sees the folded rows either as deltas or in the rollups, because it
-- locks the tables it reads before it takes its snapshot (READ COMMITTED, as every reader of ours runs). A
-- REPEATABLE READ transaction that took its snapshot before a fold and reads these tables only afterwards
-- would see those rows in neither; such a reader locks the delta tables IN ACCESS SHARE MODE first.

set local lock_timeout = '10s';

create table if not exists dashboard.usage_slot (
  id     boolean primary key default true check (id),
  active smallint not null default 0 check (active in (0, 1))
);
comment on table dashboard.usage_slot is
  'Which delta table the usage triggers write to (0: job_usage_delta, 1: job_usage_delta_1); flipped by each fold.';
insert into dashboard.usage_slot (id, active) values (true, 0) on conflict do nothing;
alter table dashboard.usage_slot enable row level security;
grant select on dashboard.usage_slot to service_role;

create table if not exists dashboard.job_usage_delta_1 (like dashboard.job_usage_delta);
comment on table dashboard.job_usage_delta_1 is
  'The second of the two delta tables (see dashboard.usage_slot); same shape as job_usage_delta.';
alter table dashboard.job_usage_delta_1 enable row level security;
drop policy if exists "Admins read job usage" on dashboard.job_usage_delta_1;
create policy "Admins read job usage" on dashboard.job_usage_delta_1 for select to authenticated
  using ((select public.has_role((select auth.uid()), 'admin'::public.app_role)));
grant select on dashboard.job_usage_delta_1 to authenticated, service_role;
-- Truncated by each fold, never vacuumed: the settings of 0005 no longer apply.
alter table dashboard.job_usage_delta reset (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);

-- ─── Usage capture, for the jobs table the database has ───────────────────────────────────────
-- One home for building the triggers (0010 built them inline): the status copied as text whatever its type,
-- the rating only when it is a smallint or integer, a created_at without time zone read as UTC; no trigger
-- when jobs lacks api_model_id (uuid), status or created_at. Only constant fragments written here go into
-- the generated bodies; nothing read from the database does. Returns whether usage is captured.
create or replace function dashboard.install_usage_capture() returns boolean
language plpgsql
set search_path = ''
as $fn$
declare
  jobs_table constant regclass := pg_catalog.to_regclass('public.jobs');
  model_type text;
  status_type text;
  created_type text;
  rating_type text;
  created_new text := 'new.created_at';
  created_old text := 'old.created_at';
  created_col text := 'created_at';
  rating_new text := 'null';
  rating_old text := 'null';
  rating_col text := 'null::integer';
  rating_changed text := '';
  columns constant text := 'api_model_id, status, created_at, quality_rating';
  old_columns constant text := 'old_api_model_id, old_status, old_created_at, old_quality_rating';
  target text;  -- one of the two constant table names below, never anything read from jobs
begin
  if jobs_table is null then
    return false;
  end if;
  select pg_catalog.format_type(a.atttypid, null) into model_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'api_model_id' and not a.attisdropped;
  select pg_catalog.format_type(a.atttypid, null) into status_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'status' and not a.attisdropped;
  select pg_catalog.format_type(a.atttypid, null) into created_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'created_at' and not a.attisdropped;
  select pg_catalog.format_type(a.atttypid, null) into rating_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'quality_rating' and not a.attisdropped;

  if model_type is distinct from 'uuid' or status_type is null or created_type is null
     or created_type not in ('timestamp with time zone', 'timestamp without time zone') then
    raise notice 'usage is not counted: public.jobs needs api_model_id (uuid), status and created_at';
    return false;
  end if;
  if created_type = 'timestamp without time zone' then
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

  -- Each body appends one row to the active delta table, named in the body itself: the fold switches writers
  -- by replacing these bodies (no lock on jobs; each session recompiles once), so a write reads nothing to
  -- find its table. A lookup of the slot in every trigger call measured +2 µs per write, +18% in all.
  select case s.active when 0 then 'dashboard.job_usage_delta' else 'dashboard.job_usage_delta_1' end
    into target from dashboard.usage_slot s;
  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_insert() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into %4$s (%1$s) values (new.api_model_id, new.status::text, %2$s, %3$s);
      return null;
    end $b$$f$, columns, created_new, rating_new, target);
  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_delete() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into %4$s (%1$s) values (old.api_model_id, old.status::text, %2$s, %3$s);
      return null;
    end $b$$f$, old_columns, created_old, rating_old, target);
  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_update() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into %7$s (%1$s, %2$s)
      values (new.api_model_id, new.status::text, %3$s, %4$s, old.api_model_id, old.status::text, %5$s, %6$s);
      return null;
    end $b$$f$, columns, old_columns, created_new, rating_new, created_old, rating_old, target);

  -- Recounts the rollups from jobs without holding the platform's writes: the jobs it counts and the deltas
  -- it drops are read in one statement, so one snapshot (see 0010). The deltas are deleted, not truncated
  -- (writers may be appending): the next two folds truncate both tables and free those rows.
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
      ), dropped_1 as (
        delete from dashboard.job_usage_delta_1
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

  -- Triggers only where missing: replacing a function needs no lock on jobs, and dropping a trigger takes one
  -- that would stop the platform's reads and writes of jobs meanwhile.
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_insert') then
    create trigger dashboard_job_usage_insert after insert on public.jobs
      for each row when (new.api_model_id is not null) execute function dashboard.record_job_insert();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_delete') then
    create trigger dashboard_job_usage_delete after delete on public.jobs
      for each row when (old.api_model_id is not null) execute function dashboard.record_job_delete();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_update') then
    execute pg_catalog.format($f$
      create trigger dashboard_job_usage_update after update on public.jobs
        for each row
        when ((old.api_model_id is not null or new.api_model_id is not null)
              and (old.api_model_id is distinct from new.api_model_id
                   or old.status is distinct from new.status
                   or old.created_at is distinct from new.created_at%1$s))
        execute function dashboard.record_job_update()$f$, rating_changed);
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_truncate') then
    create trigger dashboard_job_usage_truncate after truncate on public.jobs
      for each statement execute function dashboard.reset_job_usage();
  end if;
  return true;
end
$fn$;
comment on function dashboard.install_usage_capture() is
  'Builds the usage triggers on public.jobs for the columns it has (run by migrations); returns whether usage is captured.';
revoke all on function dashboard.install_usage_capture() from public, anon, authenticated, service_role;
select dashboard.install_usage_capture();
comment on function dashboard.rebuild_job_usage() is
  'Recounts the usage rollups from public.jobs without holding its writes; returns the jobs counted.';
revoke all on function dashboard.rebuild_job_usage() from public, anon, authenticated, service_role;
revoke all on function dashboard.record_job_insert() from public, anon, authenticated, service_role;
revoke all on function dashboard.record_job_delete() from public, anon, authenticated, service_role;
revoke all on function dashboard.record_job_update() from public, anon, authenticated, service_role;

create or replace function dashboard.reset_job_usage() returns trigger
language plpgsql security definer
set search_path = ''
as $fn$
begin
  truncate dashboard.job_usage_delta, dashboard.job_usage_delta_1, dashboard.job_usage_hourly,
           dashboard.job_usage_daily;
  return null;
end
$fn$;

-- ─── Folding ─────────────────────────────────────────────────────────────────────────────────
-- Folds the table writers are not using into the rollups and truncates it, then makes it the active one.
-- Everything it folds was written before the previous fold's switch; a writer that read the slot before
-- that switch and has not committed still holds the table, and then this fold waits at most 200 ms for it
-- and folds nothing (the next one will). One fold at a time; returns the delta rows folded, 0 when another
-- fold is running or the caller may not fold.
create or replace function dashboard.fold_job_usage() returns bigint
language plpgsql security definer
set search_path = ''
as $fn$
declare
  writing smallint;
  folded bigint := 0;
begin
  if not (pg_catalog.current_setting('role') in ('none', 'service_role')
          or public.has_role(auth.uid(), 'admin'::public.app_role)) then
    return 0;
  end if;
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('dashboard.fold_job_usage')) then
    return 0;
  end if;
  select s.active into writing from dashboard.usage_slot s for update;
  perform pg_catalog.set_config('lock_timeout', '200ms', true);
  begin
    if writing = 0 then
      lock table dashboard.job_usage_delta_1 in access exclusive mode;
      select count(*) into folded from dashboard.job_usage_delta_1;
      if folded > 0 then
        perform dashboard.fold_deltas(1::smallint);
      end if;
      truncate dashboard.job_usage_delta_1;  -- even when empty: a recount may have left dead rows
    else
      lock table dashboard.job_usage_delta in access exclusive mode;
      select count(*) into folded from dashboard.job_usage_delta;
      if folded > 0 then
        perform dashboard.fold_deltas(0::smallint);
      end if;
      truncate dashboard.job_usage_delta;
    end if;
  exception when lock_not_available then
    perform pg_catalog.set_config('lock_timeout', '0', true);
    return 0;  -- a writer from before the last switch is still open: nothing changed, the next fold retries
  end;
  perform pg_catalog.set_config('lock_timeout', '0', true);
  update dashboard.usage_slot set active = 1 - writing;
  perform dashboard.install_usage_capture();  -- writers append to the table just emptied from now on
  return folded;
end
$fn$;
comment on function dashboard.fold_job_usage() is
  'Folds the delta table writers are not using into the rollups, truncates it, and makes it the active one; returns the rows folded.';

-- The arithmetic of a fold, for one of the two tables (its rows read as their two sides, as in 0009).
create or replace function dashboard.fold_deltas(_slot smallint) returns void
language plpgsql
set search_path = ''
as $fn$
begin
  with gone as (
    select * from dashboard.job_usage_delta where _slot = 0
    union all
    select * from dashboard.job_usage_delta_1 where _slot = 1
  ), sides as (
    select api_model_id, status, created_at, 1 as jobs,
           case when quality_rating is null then 0 else 1 end as rated, coalesce(quality_rating, 0) as rating_sum
    from gone where api_model_id is not null
    union all
    select old_api_model_id, old_status, old_created_at, -1,
           case when old_quality_rating is null then 0 else -1 end, -coalesce(old_quality_rating, 0)
    from gone where old_api_model_id is not null
  ), hourly as (
    select pg_catalog.date_trunc('hour', created_at, 'UTC') as bucket, api_model_id, status,
           sum(jobs)::bigint as jobs, sum(rated)::bigint as rated, sum(rating_sum)::bigint as rating_sum
    from sides group by 1, api_model_id, status
  ), into_hourly as (
    insert into dashboard.job_usage_hourly as t (bucket, api_model_id, status, jobs, rated, rating_sum)
    select bucket, api_model_id, status, jobs, rated, rating_sum from hourly
    on conflict (bucket, api_model_id, status) do update
      set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
          rating_sum = t.rating_sum + excluded.rating_sum
  )
  insert into dashboard.job_usage_daily as t (bucket, api_model_id, status, jobs, rated, rating_sum)
  select pg_catalog.date_trunc('day', bucket, 'UTC'), api_model_id, status, sum(jobs), sum(rated), sum(rating_sum)
  from hourly group by 1, api_model_id, status
  on conflict (bucket, api_model_id, status) do update
    set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
        rating_sum = t.rating_sum + excluded.rating_sum;
end
$fn$;
comment on function dashboard.fold_deltas(smallint) is 'fold_job_usage()''s arithmetic for one delta table.';
revoke all on function dashboard.fold_deltas(smallint) from public, anon, authenticated, service_role;
revoke all on function dashboard.fold_job_usage() from public, anon;
grant execute on function dashboard.fold_job_usage() to authenticated, service_role;

-- ─── Reading jobs directly, for a backlog too large to fold inside a read ───────────────────────
-- The same rows as the rollups, counted from jobs as the owner: what the seed's usage query costs, not
-- what an admin's per-row RLS check on jobs would add. Admins and the service role only (anyone else gets
-- nothing; they read their own jobs under RLS instead). Whole-hour bounds, null for an open end.
create or replace function dashboard.job_usage_from_jobs(p_start timestamptz, p_end timestamptz, p_by_day boolean)
returns table (api_model_id uuid, status text, day timestamptz, jobs bigint, rated bigint, rating_sum bigint)
language plpgsql stable security definer
set search_path = ''
as $fn$
begin
  if not (pg_catalog.current_setting('role') in ('none', 'service_role')
          or public.has_role(auth.uid(), 'admin'::public.app_role)) then
    return;
  end if;
  return query execute dashboard.jobs_usage_sql(p_by_day) using p_start, p_end;
end
$fn$;

-- The text of that query, for the jobs table the database has (constant fragments only). Without p_by_day it
-- groups by model and status alone, as the seed's query does (day is null): the per-model totals need no more.
create or replace function dashboard.jobs_usage_sql(p_by_day boolean) returns text
language plpgsql stable
set search_path = ''
as $fn$
declare
  jobs_table constant regclass := pg_catalog.to_regclass('public.jobs');
  created text := 'j.created_at';
  rating text := 'null::integer';
begin
  if exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = jobs_table and a.attname = 'created_at'
             and a.atttypid = 'timestamp without time zone'::pg_catalog.regtype) then
    created := 'pg_catalog.timezone(''UTC'', j.created_at)';
  end if;
  if exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = jobs_table and a.attname = 'quality_rating'
             and a.atttypid in ('smallint'::pg_catalog.regtype, 'integer'::pg_catalog.regtype)
             and not a.attisdropped) then
    rating := 'j.quality_rating::integer';
  end if;
  return pg_catalog.format($q$
    select j.api_model_id, j.status::text, %3$s, count(*)::bigint, count(%2$s)::bigint,
           coalesce(sum(%2$s), 0)::bigint
    from public.jobs j
    where j.api_model_id is not null and ($1 is null or %1$s >= $1) and ($2 is null or %1$s < $2)
    group by 1, 2, 3$q$, created, rating,
    case when p_by_day then pg_catalog.format('pg_catalog.date_trunc(''day'', %s, ''UTC'')', created)
         else 'null::timestamptz' end);
end
$fn$;
revoke all on function dashboard.jobs_usage_sql(boolean) from public, anon, authenticated, service_role;
revoke all on function dashboard.job_usage_from_jobs(timestamptz, timestamptz, boolean) from public, anon;
grant execute on function dashboard.job_usage_from_jobs(timestamptz, timestamptz, boolean) to authenticated, service_role;
comment on function dashboard.job_usage_from_jobs(timestamptz, timestamptz, boolean) is
  'Usage rows counted from public.jobs as the owner, for admins: read when the delta backlog is too large to fold.';
comment on function dashboard.jobs_usage_sql(boolean) is 'The query job_usage_from_jobs() runs, for the jobs table there is.';

-- ─── Our own jobs table: the admin check once per query, not once per row ──────────────────────
do $do$
begin
  if exists (select 1 from dashboard.created_objects where object = 'public.jobs') then
    drop policy if exists "Admins manage jobs" on public.jobs;
    create policy "Admins manage jobs" on public.jobs for all to authenticated
      using ((select public.has_role((select auth.uid()), 'admin'::public.app_role)));
  end if;
end
$do$;
