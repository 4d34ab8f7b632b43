-- 0009 — cheaper usage triggers: one delta row per write to jobs, holding the job as it was and as it is.
--
-- Under 0005 a status change wrote two delta rows (-1 for the old status, +1 for the new), and each
-- trigger computed the hour bucket and the rating sums while the platform's writer waited. Measured in
-- a server-side loop of 20,000 single-row status updates, that added 14-17 µs per update on top of
-- 24-26 µs; the client-side figure was at the issue's 10% limit. Here every trigger is one plain INSERT
-- that copies the job's counted columns, before and after, and computes nothing (9 µs per update in
-- the same loop). The arithmetic moves to the readers and the fold, which run far less often: each
-- reads a delta row as two sides, the job as written (+1) and the job as it was (-1), each counted
-- only when it has a model. job_usage() and fold_job_usage() below both spell this out; keep them alike.
--
-- A job's hour bucket is no longer stored: readers filter on created_at itself. Ranges are whole hours,
-- so "created_at >= start" is "its hour >= start", and the totals stay exactly the seed's.

-- Deltas written under 0005 are folded into the rollups first, with writes to jobs held meanwhile
-- (SHARE ROW EXCLUSIVE waits for open writers to commit and makes new ones wait; reads go on), so no
-- writer is between the two shapes. Only one fold at a time, as in fold_job_usage().
do $do$
begin
  if exists (select 1 from information_schema.columns
             where table_schema = 'dashboard' and table_name = 'job_usage_delta' and column_name = 'bucket') then
    -- Only a database whose jobs already had 0005's triggers can have writers between the two shapes.
    if exists (select 1 from pg_catalog.pg_trigger where tgname = 'dashboard_job_usage_insert'
               and tgrelid = pg_catalog.to_regclass('public.jobs')) then
      lock table public.jobs in share row exclusive mode;
    end if;
    perform pg_advisory_xact_lock(hashtext('dashboard.fold_job_usage'));
    with gone as (
      delete from dashboard.job_usage_delta returning *
    ), hourly as (
      select bucket, api_model_id, status, sum(jobs)::bigint as jobs, sum(rated)::bigint as rated,
             sum(rating_sum)::bigint as rating_sum
      from gone group by bucket, api_model_id, status
    ), into_hourly as (
      insert into dashboard.job_usage_hourly as t (bucket, api_model_id, status, jobs, rated, rating_sum)
      select bucket, api_model_id, status, jobs, rated, rating_sum from hourly
      on conflict (bucket, api_model_id, status) do update
        set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
            rating_sum = t.rating_sum + excluded.rating_sum
    )
    insert into dashboard.job_usage_daily as t (bucket, api_model_id, status, jobs, rated, rating_sum)
    select date_trunc('day', bucket, 'UTC'), api_model_id, status, sum(jobs), sum(rated), sum(rating_sum)
    from hourly group by 1, api_model_id, status
    on conflict (bucket, api_model_id, status) do update
      set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
          rating_sum = t.rating_sum + excluded.rating_sum;
    drop table dashboard.job_usage_delta;
  end if;
end
$do$;

create table if not exists dashboard.job_usage_delta (
  api_model_id       uuid,         -- the job as written, counted +1 (no model: nothing to count)
  status             text,
  created_at         timestamptz,
  quality_rating     integer,      -- integer, so that a live jobs table's smallint or integer both fit
  old_api_model_id   uuid,         -- the job as it was, counted -1 (no model: nothing to uncount)
  old_status         text,
  old_created_at     timestamptz,
  old_quality_rating integer
);
comment on table dashboard.job_usage_delta is
  'Writes to public.jobs not yet folded into job_usage_hourly/daily, one row per write (new side +1, old side -1).';
-- Readers scan it whole, so the dead rows a fold leaves behind are vacuumed soon after.
alter table dashboard.job_usage_delta set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
alter table dashboard.job_usage_delta enable row level security;
do $do$
begin
  if not exists (select 1 from pg_policies where schemaname = 'dashboard' and tablename = 'job_usage_delta') then
    create policy "Admins read job usage" on dashboard.job_usage_delta for select to authenticated
      using ((select public.has_role((select auth.uid()), 'admin'::public.app_role)));
  end if;
end
$do$;
grant select on dashboard.job_usage_delta to authenticated, service_role;

-- ─── Writing: the triggers' bodies ───────────────────────────────────────────────────────────
-- Same names, so the triggers of 0005 call them unchanged. Each is one INSERT of the row's own values:
-- no function, operator or unqualified name that a caller's search_path could reach (these are
-- security definer without SET search_path; see 0005 for why).
create or replace function dashboard.record_job_insert() returns trigger
language plpgsql security definer
as $fn$
begin
  insert into dashboard.job_usage_delta (api_model_id, status, created_at, quality_rating)
  values (new.api_model_id, new.status, new.created_at, new.quality_rating);
  return null;
end
$fn$;

create or replace function dashboard.record_job_delete() returns trigger
language plpgsql security definer
as $fn$
begin
  insert into dashboard.job_usage_delta (old_api_model_id, old_status, old_created_at, old_quality_rating)
  values (old.api_model_id, old.status, old.created_at, old.quality_rating);
  return null;
end
$fn$;

create or replace function dashboard.record_job_update() returns trigger
language plpgsql security definer
as $fn$
begin
  insert into dashboard.job_usage_delta (api_model_id, status, created_at, quality_rating,
                                         old_api_model_id, old_status, old_created_at, old_quality_rating)
  values (new.api_model_id, new.status, new.created_at, new.quality_rating,
          old.api_model_id, old.status, old.created_at, old.quality_rating);
  return null;
end
$fn$;

-- The update trigger itself is (re)created by 0010, for the columns the jobs table has.

-- ─── Folding ─────────────────────────────────────────────────────────────────────────────────
-- As in 0005, with the buckets computed here rather than by the triggers. Returns the delta rows folded.
create or replace function dashboard.fold_job_usage() returns bigint
language plpgsql security definer
set search_path = dashboard, pg_temp
as $fn$
declare
  folded bigint;
begin
  if not (current_setting('role') in ('none', 'service_role')
          or public.has_role(auth.uid(), 'admin'::public.app_role)) then
    return 0;
  end if;
  if not pg_try_advisory_xact_lock(hashtext('dashboard.fold_job_usage')) then
    return 0;
  end if;
  with gone as (
    delete from dashboard.job_usage_delta returning *
  ), sides as (
    select api_model_id, status, created_at, 1 as jobs,
           case when quality_rating is null then 0 else 1 end as rated, coalesce(quality_rating, 0) as rating_sum
    from gone where api_model_id is not null
    union all
    select old_api_model_id, old_status, old_created_at, -1,
           case when old_quality_rating is null then 0 else -1 end, -coalesce(old_quality_rating, 0)
    from gone where old_api_model_id is not null
  ), hourly as (
    select date_trunc('hour', created_at, 'UTC') as bucket, api_model_id, status,
           sum(jobs)::bigint as jobs, sum(rated)::bigint as rated, sum(rating_sum)::bigint as rating_sum
    from sides group by 1, api_model_id, status
  ), into_hourly as (
    insert into dashboard.job_usage_hourly as t (bucket, api_model_id, status, jobs, rated, rating_sum)
    select bucket, api_model_id, status, jobs, rated, rating_sum from hourly
    on conflict (bucket, api_model_id, status) do update
      set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
          rating_sum = t.rating_sum + excluded.rating_sum
  ), into_daily as (
    insert into dashboard.job_usage_daily as t (bucket, api_model_id, status, jobs, rated, rating_sum)
    select date_trunc('day', bucket, 'UTC'), api_model_id, status, sum(jobs), sum(rated), sum(rating_sum)
    from hourly group by 1, api_model_id, status
    on conflict (bucket, api_model_id, status) do update
      set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
          rating_sum = t.rating_sum + excluded.rating_sum
  )
  select count(*) into folded from gone;
  return folded;
end
$fn$;

-- ─── Reading ─────────────────────────────────────────────────────────────────────────────────
-- As in 0008, with the unfolded deltas read as their two sides and filtered on created_at.
create or replace function dashboard.job_usage(p_start timestamptz, p_end timestamptz)
returns table (api_model_id uuid, status text, day timestamptz, jobs bigint, rated bigint, rating_sum bigint)
language sql stable
as $fn$
  select d.api_model_id, d.status, d.bucket, d.jobs, d.rated, d.rating_sum
  from dashboard.job_usage_daily d
  where d.bucket >= dashboard.usage_day_lo(p_start, p_end) and d.bucket < dashboard.usage_day_hi(p_start, p_end)
  union all
  select h.api_model_id, h.status, date_trunc('day', h.bucket, 'UTC'), h.jobs, h.rated, h.rating_sum
  from dashboard.job_usage_hourly h
  where h.bucket >= p_start and h.bucket < dashboard.usage_day_lo(p_start, p_end)
  union all
  select h.api_model_id, h.status, date_trunc('day', h.bucket, 'UTC'), h.jobs, h.rated, h.rating_sum
  from dashboard.job_usage_hourly h
  where h.bucket >= dashboard.usage_day_hi(p_start, p_end) and h.bucket < p_end
  union all
  select x.api_model_id, x.status, date_trunc('day', x.created_at, 'UTC'), 1::bigint,
         case when x.quality_rating is null then 0::bigint else 1::bigint end, coalesce(x.quality_rating, 0)::bigint
  from dashboard.job_usage_delta x
  where x.api_model_id is not null and x.created_at >= p_start and x.created_at < p_end
  union all
  select x.old_api_model_id, x.old_status, date_trunc('day', x.old_created_at, 'UTC'), -1::bigint,
         case when x.old_quality_rating is null then 0::bigint else -1::bigint end,
         -coalesce(x.old_quality_rating, 0)::bigint
  from dashboard.job_usage_delta x
  where x.old_api_model_id is not null and x.old_created_at >= p_start and x.old_created_at < p_end
$fn$;

revoke all on function dashboard.record_job_insert() from public;
revoke all on function dashboard.record_job_delete() from public;
revoke all on function dashboard.record_job_update() from public;
