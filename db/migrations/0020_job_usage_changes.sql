-- 0020 — which hours of the usage and latency rollups changed, and when: so that a reader can keep what it read of
-- past hours and days, and know exactly when that copy stops being true.
--
-- Health over the last 24 hours, with jobs spread over 10,000 models, read about 800,000 rollup rows a click
-- (282,835 hourly latency rows for the window, 522,805 daily ones for the 7-day baseline) and took 2.4 s. Those
-- hours and days are closed: they change only when a fold applies a late change to them (a job completing, failing
-- or deleted after its hour), or when the rollups are recounted. dashboard.job_usage_changes holds, per hour of
-- creation, the version (a random uuid) of the last fold that changed a rollup row of that hour, and under
-- '-infinity' the version of the last change of any other kind (a recount, a truncate, any write to a rollup outside
-- a fold). A reader keeps what it read of an hour (or a day: its 24 hours) for as long as that hour's version and
-- the '-infinity' one are what they were, in the same snapshot as its reads.
--
-- Only our tables carry anything new here: the statement triggers below are on the rollups, which only folds and
-- recounts write, so no write of the platform's pays for them.

create table if not exists dashboard.job_usage_changes (
  hour    timestamptz primary key,  -- an hour of creation (UTC); '-infinity': every hour
  version uuid        not null  -- random: a version is never given twice, even after a restore from a backup
);
comment on table dashboard.job_usage_changes is
  'Per hour of creation, the version of the last fold that changed its usage or latency rollups; ''-infinity'': the last change of any other kind.';

alter table dashboard.job_usage_changes enable row level security;
do $do$
begin
  if not exists (select 1 from pg_catalog.pg_policies
                 where schemaname = 'dashboard' and tablename = 'job_usage_changes') then
    create policy "Admins read job usage" on dashboard.job_usage_changes for select to authenticated
      using ((select public.has_role((select auth.uid()), 'admin'::public.app_role)));
  end if;
end
$do$;
revoke all on dashboard.job_usage_changes from public, anon;
grant select on dashboard.job_usage_changes to authenticated, service_role;

insert into dashboard.job_usage_changes (hour, version)
values ('-infinity', pg_catalog.gen_random_uuid())
on conflict (hour) do update set version = excluded.version;

-- Any write to a rollup outside a fold (which says so in a setting of its own transaction, and notes its hours
-- itself) changes every hour's version.
create or replace function dashboard.note_usage_rewrite() returns trigger
language plpgsql security definer set search_path = '' as $fn$
begin
  if pg_catalog.current_setting('dashboard.folding', true) is distinct from 'on' then
    insert into dashboard.job_usage_changes as c (hour, version)
    values ('-infinity', pg_catalog.gen_random_uuid())
    on conflict (hour) do update set version = excluded.version;
  end if;
  return null;
end
$fn$;
comment on function dashboard.note_usage_rewrite() is
  'A rollup written outside a fold (a recount, a truncate, a hand edit): every hour''s version changes.';
revoke all on function dashboard.note_usage_rewrite() from public, anon, authenticated, service_role;

do $do$
declare
  t text;
begin
  foreach t in array array['job_usage_hourly', 'job_usage_daily', 'job_latency_hourly', 'job_latency_daily'] loop
    execute pg_catalog.format('drop trigger if exists dashboard_usage_rewritten on dashboard.%I', t);
    execute pg_catalog.format(
      'create trigger dashboard_usage_rewritten after insert or update or delete or truncate on dashboard.%I '
      'for each statement execute function dashboard.note_usage_rewrite()', t);
  end loop;
end
$do$;

-- 0017's fold arithmetic (fold_job_usage() calls it for the table it folds), as a fold: it says so for the triggers
-- above, and notes every hour it changes, from the hours it groups the deltas by anyway (the latency sides are some
-- of the same rows). Noting them from a scan of its own would add about half a fold's cost (1.1 us a delta).
create or replace function dashboard.fold_deltas(_slot smallint) returns void
language plpgsql
set search_path = ''
as $fn$
begin
  perform pg_catalog.set_config('dashboard.folding', 'on', true);
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
