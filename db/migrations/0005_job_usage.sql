-- 0005 — exact job usage without scanning jobs.
--
-- The seed's usage query counts every job of every model on each run: about half a second at one
-- million jobs and five at ten. The Usage page reruns on every click, so it reads these instead:
--
--   job_usage_delta    what each write to jobs changed: one row (+1) per inserted job, two (-1 old,
--                      +1 new) per change of model, status, rating or creation time, one (-1) per delete.
--                      Written by a row trigger in the writer's own transaction, append-only, no index,
--                      so the platform's writers never wait on each other or on the dashboard.
--   job_usage_hourly   the deltas folded per hour (UTC) of the job's creation, model and status;
--   job_usage_daily    and per day (UTC), so that long ranges read few rows.
--
-- Readers sum rollups + deltas in one statement (one snapshot), so a job committed a moment ago is
-- counted, and the totals equal the seed's query at any moment. fold_job_usage() moves deltas into
-- the rollups in one transaction; it changes no total, only how fast they are read.
-- Everything here lives in our own schema. The triggers on public.jobs, and the first count, come with
-- 0010 and db/live.py: built for the columns the jobs table has, and counted without holding its writes.

create table if not exists dashboard.job_usage_delta (
  api_model_id uuid        not null,
  status       text        not null,
  bucket       timestamptz not null,  -- the hour (UTC) the job was created in
  jobs         bigint      not null,
  rated        bigint      not null,  -- jobs with a quality rating
  rating_sum   bigint      not null   -- sum of those ratings
);
comment on table dashboard.job_usage_delta is
  'Job usage changes not yet folded into job_usage_hourly/daily; written by a trigger on public.jobs.';
-- Readers scan it whole, so the dead rows a fold leaves behind are vacuumed soon after.
alter table dashboard.job_usage_delta set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);

create table if not exists dashboard.job_usage_hourly (
  bucket       timestamptz not null,
  api_model_id uuid        not null,
  status       text        not null,
  jobs         bigint      not null,
  rated        bigint      not null,
  rating_sum   bigint      not null,
  primary key (bucket, api_model_id, status)
);
comment on table dashboard.job_usage_hourly is 'Jobs per hour of creation (UTC), model and status, folded from job_usage_delta.';

create table if not exists dashboard.job_usage_daily (
  bucket       timestamptz not null,
  api_model_id uuid        not null,
  status       text        not null,
  jobs         bigint      not null,
  rated        bigint      not null,
  rating_sum   bigint      not null,
  primary key (bucket, api_model_id, status)
);
comment on table dashboard.job_usage_daily is 'Jobs per day of creation (UTC), model and status, folded from job_usage_delta.';

-- ─── Writing: triggers on jobs ───────────────────────────────────────────────────────────────
-- Security definer: the platform's writers (a person inserting their own job, a worker) have no
-- rights on our tables. These run on every write to jobs, so they are as cheap as a trigger can be:
-- one plain insert with a cached plan, and no SET search_path clause, which measured alone cost
-- more than the rest of the trigger (20,000 inserts: 1.78 s with it, 1.08 s without, 1.06 s with
-- no trigger). Without it the caller's search_path reaches these bodies, so every name in them is
-- schema-qualified, the one operator is spelled OPERATOR(pg_catalog.-), and there is no other.
create or replace function dashboard.record_job_insert() returns trigger
language plpgsql security definer
as $fn$
begin
  insert into dashboard.job_usage_delta (api_model_id, status, bucket, jobs, rated, rating_sum)
  values (new.api_model_id, new.status, pg_catalog.date_trunc('hour', new.created_at, 'UTC'), 1,
          case when new.quality_rating is null then 0 else 1 end, coalesce(new.quality_rating, 0));
  return null;
end
$fn$;

create or replace function dashboard.record_job_delete() returns trigger
language plpgsql security definer
as $fn$
begin
  insert into dashboard.job_usage_delta (api_model_id, status, bucket, jobs, rated, rating_sum)
  values (old.api_model_id, old.status, pg_catalog.date_trunc('hour', old.created_at, 'UTC'), -1,
          case when old.quality_rating is null then 0 else -1 end,
          operator(pg_catalog.-) coalesce(old.quality_rating, 0));
  return null;
end
$fn$;

create or replace function dashboard.record_job_update() returns trigger
language plpgsql security definer
as $fn$
begin
  if old.api_model_id is not null then
    insert into dashboard.job_usage_delta (api_model_id, status, bucket, jobs, rated, rating_sum)
    values (old.api_model_id, old.status, pg_catalog.date_trunc('hour', old.created_at, 'UTC'), -1,
            case when old.quality_rating is null then 0 else -1 end,
            operator(pg_catalog.-) coalesce(old.quality_rating, 0));
  end if;
  if new.api_model_id is not null then
    insert into dashboard.job_usage_delta (api_model_id, status, bucket, jobs, rated, rating_sum)
    values (new.api_model_id, new.status, pg_catalog.date_trunc('hour', new.created_at, 'UTC'), 1,
            case when new.quality_rating is null then 0 else 1 end, coalesce(new.quality_rating, 0));
  end if;
  return null;
end
$fn$;
comment on function dashboard.record_job_insert() is 'Row trigger on public.jobs: counts a new job (see job_usage_delta).';
comment on function dashboard.record_job_delete() is 'Row trigger on public.jobs: uncounts a deleted job.';
comment on function dashboard.record_job_update() is 'Row trigger on public.jobs: moves a job between counts.';

create or replace function dashboard.reset_job_usage() returns trigger
language plpgsql security definer
set search_path = dashboard, pg_temp
as $fn$
begin
  truncate dashboard.job_usage_delta, dashboard.job_usage_hourly, dashboard.job_usage_daily;
  return null;
end
$fn$;
-- ─── Folding and rebuilding ──────────────────────────────────────────────────────────────────
-- Moves every delta visible now into the rollups, in one transaction: a reader sees the rows
-- either before or after, never half. Deltas committed meanwhile are not visible to the DELETE and
-- wait for the next fold. Only one fold runs at a time; a second caller returns 0 at once.
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
  ), hourly as (
    select bucket, api_model_id, status, sum(jobs)::bigint as jobs, sum(rated)::bigint as rated,
           sum(rating_sum)::bigint as rating_sum, count(*) as deltas
    from gone group by bucket, api_model_id, status
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
  select coalesce(sum(deltas), 0) into folded from hourly;
  return folded;
end
$fn$;
comment on function dashboard.fold_job_usage() is
  'Moves job_usage_delta into the hourly and daily rollups; returns how many deltas it folded. Changes no total.';

-- Recounts everything from jobs. Holds writes to jobs (SHARE lock) while it counts, so the result
-- is exact; used once by this migration and by `python -m dashboard usage --rebuild` after a bulk
-- load made with triggers disabled.
create or replace function dashboard.rebuild_job_usage() returns bigint
language plpgsql
set search_path = dashboard, pg_temp
as $fn$
declare
  counted bigint;
begin
  lock table public.jobs in share mode;
  truncate dashboard.job_usage_delta, dashboard.job_usage_hourly, dashboard.job_usage_daily;
  insert into dashboard.job_usage_hourly (bucket, api_model_id, status, jobs, rated, rating_sum)
  select date_trunc('hour', created_at, 'UTC'), api_model_id, status, count(*), count(quality_rating),
         coalesce(sum(quality_rating), 0)
  from public.jobs where api_model_id is not null
  group by 1, api_model_id, status;
  insert into dashboard.job_usage_daily (bucket, api_model_id, status, jobs, rated, rating_sum)
  select date_trunc('day', bucket, 'UTC'), api_model_id, status, sum(jobs), sum(rated), sum(rating_sum)
  from dashboard.job_usage_hourly group by 1, api_model_id, status;
  select coalesce(sum(jobs), 0) into counted from dashboard.job_usage_daily;
  return counted;
end
$fn$;
comment on function dashboard.rebuild_job_usage() is
  'Recounts the usage rollups from public.jobs (blocks writes to jobs meanwhile); returns the jobs counted.';

-- ─── Reading ─────────────────────────────────────────────────────────────────────────────────
-- Usage rows for jobs created in [p_start, p_end): whole days from the daily rollup, the hours at
-- either edge from the hourly one, and the deltas not folded yet. Bounds must be whole hours (UTC);
-- +-infinity for an open end. A plain SQL function (no SET clause, names schema-qualified) so that
-- the planner inlines it into the caller's query and reads each rollup by an index range. It runs
-- as the caller: RLS shows the rollups to admins only.
create or replace function dashboard.job_usage(p_start timestamptz, p_end timestamptz)
returns table (api_model_id uuid, status text, day timestamptz, jobs bigint, rated bigint, rating_sum bigint)
language sql stable
as $fn$
  with bounds as (
    select case when date_trunc('day', p_start, 'UTC') = p_start then p_start
                else date_trunc('day', p_start, 'UTC') + interval '1 day' end as day_lo,
           date_trunc('day', p_end, 'UTC') as day_hi
  ), days as (
    select least(day_lo, p_end) as day_lo, greatest(least(day_hi, p_end), least(day_lo, p_end)) as day_hi
    from bounds
  )
  select d.api_model_id, d.status, d.bucket, d.jobs, d.rated, d.rating_sum
  from dashboard.job_usage_daily d, days
  where d.bucket >= days.day_lo and d.bucket < days.day_hi
  union all
  select h.api_model_id, h.status, date_trunc('day', h.bucket, 'UTC'), h.jobs, h.rated, h.rating_sum
  from dashboard.job_usage_hourly h, days
  where (h.bucket >= p_start and h.bucket < days.day_lo) or (h.bucket >= days.day_hi and h.bucket < p_end)
  union all
  select x.api_model_id, x.status, date_trunc('day', x.bucket, 'UTC'), x.jobs, x.rated, x.rating_sum
  from dashboard.job_usage_delta x
  where x.bucket >= p_start and x.bucket < p_end
$fn$;
comment on function dashboard.job_usage(timestamptz, timestamptz) is
  'Job counts per model, status and day (UTC) for jobs created in [p_start, p_end) (whole hours), exact at this moment.';

-- ─── Who may read ────────────────────────────────────────────────────────────────────────────
-- Admins only, like every job. The check is wrapped in a sub-select so it runs once per query,
-- not once per row.
do $do$
declare
  t text;
begin
  foreach t in array array['job_usage_delta', 'job_usage_hourly', 'job_usage_daily'] loop
    execute format('alter table dashboard.%I enable row level security', t);
    if not exists (select 1 from pg_policies where schemaname = 'dashboard' and tablename = t) then
      execute format(
        'create policy "Admins read job usage" on dashboard.%I for select to authenticated '
        'using ((select public.has_role((select auth.uid()), ''admin''::public.app_role)))', t);
    end if;
    execute format('grant select on dashboard.%I to authenticated, service_role', t);
  end loop;
end
$do$;

revoke all on function dashboard.fold_job_usage() from public;
grant execute on function dashboard.fold_job_usage() to authenticated, service_role;
revoke all on function dashboard.rebuild_job_usage() from public;
revoke all on function dashboard.record_job_insert() from public;
revoke all on function dashboard.record_job_delete() from public;
revoke all on function dashboard.record_job_update() from public;
revoke all on function dashboard.reset_job_usage() from public;
grant execute on function dashboard.job_usage(timestamptz, timestamptz) to authenticated, service_role;

