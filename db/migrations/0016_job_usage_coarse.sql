-- 0016 — usage rollups whose size does not grow with models x hours: per month, for all time, and per day
-- without the model.
--
-- With jobs spread over 10,000 models (a million jobs in 90 days, about one per model, hour and status) the
-- daily rollup holds almost a row per job (897,177 daily rows for 1,000,000 jobs), so a long range read it
-- nearly as slowly as the seed's query reads jobs. Three rollups, kept from the daily one, answer long ranges
-- from far fewer rows:
--
--   job_usage_monthly     per whole UTC month, model and status: the middle of a long range;
--   job_usage_total       per model and status, all time: "all", and open ranges as all time minus the rest;
--   job_usage_day_totals  per UTC day and status over every model: the per-day chart, which subtracts the
--                         models a filter leaves out (read from the daily rollup by model) instead of adding
--                         up every model's days.
--
-- Each is kept by statement triggers on job_usage_daily, so whatever writes the daily rollup (the fold, the
-- recount, the migrations' own folds) keeps them in the same transaction, and a reader that sees a daily row
-- sees it in these too: totals stay exactly the seed's at any moment. Nothing here touches public tables or
-- the triggers on jobs: a write to jobs costs what it did. A fold costs more: 12,000 deltas of spread jobs
-- folded in 0.44-0.74 s against 0.23-0.46 s without these (each touches a row per model in two more tables).
-- On a database with rollups filled, this migration reads the daily rollup once, not jobs: 2.8 s for 896,930
-- daily rows (a million spread jobs), 7.8 s for 4,029,808 (ten million), index included; folds wait meanwhile,
-- the platform's writes and the readers do not.

set local lock_timeout = '10s';

-- No fold or recount between the backfill below and the triggers that take over from it.
select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('dashboard.fold_job_usage'));
lock table dashboard.job_usage_daily in share mode;

-- ─── Tables ──────────────────────────────────────────────────────────────────────────────────────
create table if not exists dashboard.job_usage_monthly (
  bucket       timestamptz not null,  -- the first moment of the UTC month the jobs were created in
  api_model_id uuid        not null,
  status       text        not null,
  jobs         bigint      not null,
  rated        bigint      not null,
  rating_sum   bigint      not null,
  primary key (bucket, api_model_id, status)
) with (fillfactor = 80);  -- room on each page, so that a fold's update of a row stays on it (no index entry)
comment on table dashboard.job_usage_monthly is
  'Jobs per month of creation (UTC), model and status; kept from job_usage_daily by its triggers.';

create table if not exists dashboard.job_usage_total (
  api_model_id uuid   not null,
  status       text   not null,
  jobs         bigint not null,
  rated        bigint not null,
  rating_sum   bigint not null,
  primary key (api_model_id, status)
) with (fillfactor = 80);
comment on table dashboard.job_usage_total is
  'Jobs per model and status over all time; kept from job_usage_daily by its triggers.';

create table if not exists dashboard.job_usage_day_totals (
  bucket     timestamptz not null,  -- the UTC day the jobs were created in
  status     text        not null,
  jobs       bigint      not null,
  rated      bigint      not null,
  rating_sum bigint      not null,
  primary key (bucket, status)
);
comment on table dashboard.job_usage_day_totals is
  'Jobs per day of creation (UTC) and status over all models; kept from job_usage_daily by its triggers.';

-- The per-day chart reads the days of the models a filter leaves out (or keeps) by model.
create index if not exists job_usage_daily_model_idx on dashboard.job_usage_daily (api_model_id, bucket);

-- ─── Who may read: admins only, like the other rollups ──────────────────────────────────────────
do $do$
declare
  t text;
begin
  foreach t in array array['job_usage_monthly', 'job_usage_total', 'job_usage_day_totals'] loop
    execute pg_catalog.format('alter table dashboard.%I enable row level security', t);
    if not exists (select 1 from pg_catalog.pg_policies where schemaname = 'dashboard' and tablename = t) then
      execute pg_catalog.format(
        'create policy "Admins read job usage" on dashboard.%I for select to authenticated '
        'using ((select public.has_role((select auth.uid()), ''admin''::public.app_role)))', t);
    end if;
    execute pg_catalog.format('revoke all on dashboard.%I from public, anon', t);
    execute pg_catalog.format('grant select on dashboard.%I to authenticated, service_role', t);
  end loop;
end
$do$;

-- ─── Backfill from the daily rollup (never from jobs): as many rows as it has, once ────────────────
truncate dashboard.job_usage_monthly, dashboard.job_usage_total, dashboard.job_usage_day_totals;
insert into dashboard.job_usage_monthly (bucket, api_model_id, status, jobs, rated, rating_sum)
select pg_catalog.date_trunc('month', d.bucket, 'UTC'), d.api_model_id, d.status, sum(d.jobs), sum(d.rated),
       sum(d.rating_sum)
from dashboard.job_usage_daily d group by 1, 2, 3;
insert into dashboard.job_usage_total (api_model_id, status, jobs, rated, rating_sum)
select m.api_model_id, m.status, sum(m.jobs), sum(m.rated), sum(m.rating_sum)
from dashboard.job_usage_monthly m group by 1, 2;
insert into dashboard.job_usage_day_totals (bucket, status, jobs, rated, rating_sum)
select d.bucket, d.status, sum(d.jobs), sum(d.rated), sum(d.rating_sum)
from dashboard.job_usage_daily d group by 1, 2;

-- ─── Kept by the daily rollup's writes ────────────────────────────────────────────────────────────
-- One statement per write to job_usage_daily: its rows as written (+) and as they were (-), summed per month,
-- per model and per day, added to the three. A fold upserts the few days it touched; a recount inserts every
-- day into the emptied table. Runs as the writer (the fold is security definer; a recount runs as the owner).
-- One text for the three kinds of write, with the transition tables the kind has (constant fragments only).
create or replace function dashboard.roll_up_daily_usage() returns trigger
language plpgsql
set search_path = ''
as $fn$
declare
  written constant text := 'select n.bucket, n.api_model_id, n.status, n.jobs, n.rated, n.rating_sum from new_rows n';
  was constant text :=
    'select o.bucket, o.api_model_id, o.status, -o.jobs, -o.rated, -o.rating_sum from old_rows o';
begin
  execute pg_catalog.format($q$
    with changes as materialized (
      select c.bucket, c.api_model_id, c.status, sum(c.jobs) as jobs, sum(c.rated) as rated,
             sum(c.rating_sum) as rating_sum
      from (%s) c (bucket, api_model_id, status, jobs, rated, rating_sum)
      group by 1, 2, 3
      having sum(c.jobs) <> 0 or sum(c.rated) <> 0 or sum(c.rating_sum) <> 0
    ), monthly as (
      insert into dashboard.job_usage_monthly as t (bucket, api_model_id, status, jobs, rated, rating_sum)
      select pg_catalog.date_trunc('month', c.bucket, 'UTC'), c.api_model_id, c.status, sum(c.jobs), sum(c.rated),
             sum(c.rating_sum)
      from changes c group by 1, 2, 3
      on conflict (bucket, api_model_id, status) do update
        set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
            rating_sum = t.rating_sum + excluded.rating_sum
    ), total as (
      insert into dashboard.job_usage_total as t (api_model_id, status, jobs, rated, rating_sum)
      select c.api_model_id, c.status, sum(c.jobs), sum(c.rated), sum(c.rating_sum)
      from changes c group by 1, 2
      on conflict (api_model_id, status) do update
        set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
            rating_sum = t.rating_sum + excluded.rating_sum
    )
    insert into dashboard.job_usage_day_totals as t (bucket, status, jobs, rated, rating_sum)
    select c.bucket, c.status, sum(c.jobs), sum(c.rated), sum(c.rating_sum)
    from changes c group by 1, 2
    on conflict (bucket, status) do update
      set jobs = t.jobs + excluded.jobs, rated = t.rated + excluded.rated,
          rating_sum = t.rating_sum + excluded.rating_sum$q$,
    case tg_op when 'INSERT' then written when 'DELETE' then was else written || ' union all ' || was end);
  return null;
end
$fn$;
comment on function dashboard.roll_up_daily_usage() is
  'Statement trigger on job_usage_daily: adds what a write changed to job_usage_monthly, _total and _day_totals.';

create or replace function dashboard.empty_coarse_usage() returns trigger
language plpgsql
set search_path = ''
as $fn$
begin
  truncate dashboard.job_usage_monthly, dashboard.job_usage_total, dashboard.job_usage_day_totals;
  return null;
end
$fn$;
comment on function dashboard.empty_coarse_usage() is
  'Truncate trigger on job_usage_daily (a recount, or jobs truncated): empties the rollups kept from it.';

revoke all on function dashboard.roll_up_daily_usage() from public, anon, authenticated, service_role;
revoke all on function dashboard.empty_coarse_usage() from public, anon, authenticated, service_role;

drop trigger if exists dashboard_job_usage_daily_inserted on dashboard.job_usage_daily;
create trigger dashboard_job_usage_daily_inserted after insert on dashboard.job_usage_daily
  referencing new table as new_rows for each statement execute function dashboard.roll_up_daily_usage();
drop trigger if exists dashboard_job_usage_daily_updated on dashboard.job_usage_daily;
create trigger dashboard_job_usage_daily_updated after update on dashboard.job_usage_daily
  referencing old table as old_rows new table as new_rows
  for each statement execute function dashboard.roll_up_daily_usage();
drop trigger if exists dashboard_job_usage_daily_deleted on dashboard.job_usage_daily;
create trigger dashboard_job_usage_daily_deleted after delete on dashboard.job_usage_daily
  referencing old table as old_rows for each statement execute function dashboard.roll_up_daily_usage();
drop trigger if exists dashboard_job_usage_daily_truncated on dashboard.job_usage_daily;
create trigger dashboard_job_usage_daily_truncated after truncate on dashboard.job_usage_daily
  for each statement execute function dashboard.empty_coarse_usage();
