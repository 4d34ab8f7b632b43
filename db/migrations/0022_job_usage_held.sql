-- 0022 — a job with no creation time or no status never stops the folds.
--
-- A live jobs table may allow a null created_at or status (the demo's and the seed's do not). The triggers copy such
-- a job into the deltas as they are, and the platform's write succeeds, but a fold has no hour (or no status) to put
-- it under: the rollups' keys are not null, so every fold failed from then on, the backlog grew, and once it was
-- large enough the read that folds first failed too (the Usage page, the Overview and Health with it).
--
-- The seed's query counts such a job in all time (COUNT(j.id)) and in no range with a bound (created_at >= start is
-- not true of a null), and in neither completed nor failed when it has no status. A pending delta is read exactly
-- so: a bounded range leaves out a side with no created_at, an unbounded one takes it, and a null status matches no
-- status filter. So a fold now moves a delta with such a side, whole, into dashboard.job_usage_held, which readers
-- add as they add the deltas; the fold never sees it. The table holds only these (a job fixed later adds a delta
-- with its old, odd side, which is held too: the two add up to the job as it now is). A recount, which counts every
-- job again, empties it, and so does a truncate of jobs.
--
-- Only our tables and functions change: no trigger or write of the platform's is touched.

create table if not exists dashboard.job_usage_held (like dashboard.job_usage_delta including defaults);
comment on table dashboard.job_usage_held is
  'Deltas a fold cannot put in an hour: a side with a model but no created_at or no status. Read as deltas, never folded.';
alter table dashboard.job_usage_held enable row level security;
drop policy if exists "Admins read job usage" on dashboard.job_usage_held;
create policy "Admins read job usage" on dashboard.job_usage_held for select to authenticated
  using ((select public.has_role((select auth.uid()), 'admin'::public.app_role)));
revoke all on dashboard.job_usage_held from public, anon;
grant select on dashboard.job_usage_held to authenticated, service_role;

-- 0020's fold arithmetic, with the held deltas moved out first.
create or replace function dashboard.fold_deltas(_slot smallint) returns void
language plpgsql
set search_path = ''
as $fn$
begin
  perform pg_catalog.set_config('dashboard.folding', 'on', true);
  -- New in 0022: a delta with a side that has a model but no creation time or no status has no hour (or no status)
  -- to go to; it moves to job_usage_held whole, where readers add it as they add the deltas, and stays there.
  execute pg_catalog.format($q$
    with held as (
      delete from dashboard.%I d
      where (d.api_model_id is not null and (d.created_at is null or d.status is null))
         or (d.old_api_model_id is not null and (d.old_created_at is null or d.old_status is null))
      returning d.*
    )
    insert into dashboard.job_usage_held select * from held$q$,
    case _slot when 0 then 'job_usage_delta' else 'job_usage_delta_1' end);
  with gone as (
    select d.api_model_id, d.status, d.created_at, d.quality_rating, d.old_api_model_id, d.old_status,
           d.old_created_at, d.old_quality_rating, d.jobs
    from dashboard.job_usage_delta d where _slot = 0
    union all
    select d.api_model_id, d.status, d.created_at, d.quality_rating, d.old_api_model_id, d.old_status,
           d.old_created_at, d.old_quality_rating, d.jobs
    from dashboard.job_usage_delta_1 d where _slot = 1
  ), sides as (
    select api_model_id, status, created_at, jobs,
           case when quality_rating is null then 0 else jobs end as rated,
           coalesce(quality_rating, 0) * jobs as rating_sum
    from gone where api_model_id is not null
    union all
    select old_api_model_id, old_status, old_created_at, -jobs,
           case when old_quality_rating is null then 0 else -jobs end, -coalesce(old_quality_rating, 0) * jobs
    from gone where old_api_model_id is not null
  ), hourly as (
    select pg_catalog.date_trunc('hour', created_at, 'UTC') as bucket, api_model_id, status,
           sum(jobs)::bigint as jobs, sum(rated)::bigint as rated, sum(rating_sum)::bigint as rating_sum
    from sides group by 1, api_model_id, status
  ), noted as (  -- new in 0020: every hour this fold changes gets a new version
    insert into dashboard.job_usage_changes as c (hour, version)
    select b.bucket, pg_catalog.gen_random_uuid()
    from (select distinct h.bucket from hourly h where h.bucket is not null) b
    on conflict (hour) do update set version = excluded.version
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
  perform dashboard.fold_latency(_slot);
  perform pg_catalog.set_config('dashboard.folding', 'off', true);
end
$fn$;
revoke all on function dashboard.fold_deltas(smallint) from public, anon, authenticated, service_role;

-- 0019's recount, emptying the held deltas first: it counts every job again. It still cannot put a job with no
-- creation time or no status in an hour: it says so, rather than failing on a key.
create or replace function dashboard.recount_job_usage() returns bigint
language plpgsql set search_path = '' as $fn$
declare
  counted bigint;
begin
  if exists (select 1 from public.jobs j
             where j.api_model_id is not null and (j.created_at is null or j.status is null)) then
    raise exception 'jobs has rows with a model but no created_at or no status: they cannot be recounted into hours'
      using hint = 'Give them a created_at and a status, or recount after they are gone; until then the counts '
                   'kept so far stay as they are, and keep counting new jobs.';
  end if;
  truncate dashboard.job_usage_held;
  counted := dashboard.rebuild_job_usage();
  perform dashboard.lay_out_job_usage();
  return counted;
end
$fn$;
comment on function dashboard.recount_job_usage() is
  'rebuild_job_usage(), then the rollups laid out by time (lay_out_job_usage()); the held deltas emptied first.';
revoke all on function dashboard.recount_job_usage() from public, anon, authenticated, service_role;

-- 0017's reset, emptying the held deltas too.
create or replace function dashboard.reset_job_usage() returns trigger
language plpgsql security definer
set search_path = ''
as $fn$
begin
  truncate dashboard.job_usage_delta, dashboard.job_usage_delta_1, dashboard.job_usage_held,
           dashboard.job_usage_hourly, dashboard.job_usage_daily, dashboard.job_latency_hourly,
           dashboard.job_latency_daily;
  return null;
end
$fn$;
