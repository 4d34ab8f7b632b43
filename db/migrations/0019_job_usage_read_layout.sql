-- 0019 — the usage rollups laid out for their reads: by time after a recount, and the per-day chart's models read
-- from an index alone.
--
-- A recount (rebuild_job_usage(): seed-demo's loads, `usage --rebuild`, the first count when attaching to a live
-- project) inserts the rollups in the order its hash aggregate yields them, so the rows of one hour lie on as many
-- pages as there are rows: with 10M jobs spread over 10,000 models, the 24-hour page read 48,439 hourly rows from
-- 38,719 pages (0.6 s). dashboard.recount_job_usage() recounts, then rewrites the hourly and daily rollups (and the
-- latency ones) in the order of their primary keys, which lead with the bucket: the same read then touches about
-- 400 pages (55-73 ms). Folds keep that order by themselves, as each folds the last hours' jobs. The rewrite holds
-- the rollups as the recount's truncate already does, and never jobs.
--
-- The per-day chart subtracts the days of the models a filter leaves out (the inactive ones, for "Active only"),
-- read model by model. From 0016's index each row cost a visit to the table (2.5 us); this index carries the
-- counts, so the read is index-only (0.17 us a row): 1,457 inactive models' days over all time in 153 ms instead of
-- one scan of 2.2 million daily rows (1.0 s).

create index if not exists job_usage_daily_model_counts_idx
  on dashboard.job_usage_daily (api_model_id, bucket) include (status, jobs, rated, rating_sum);
drop index if exists dashboard.job_usage_daily_model_idx;

-- The hourly, daily and latency rollups rewritten in the order of their primary keys (bucket first).
create or replace function dashboard.lay_out_job_usage() returns void
language plpgsql set search_path = '' as $fn$
begin
  cluster dashboard.job_usage_hourly using job_usage_hourly_pkey;
  cluster dashboard.job_usage_daily using job_usage_daily_pkey;
  cluster dashboard.job_latency_hourly using job_latency_hourly_pkey;
  cluster dashboard.job_latency_daily using job_latency_daily_pkey;
end
$fn$;
comment on function dashboard.lay_out_job_usage() is
  'The usage and latency rollups rewritten in bucket order (what their reads by time need).';
revoke all on function dashboard.lay_out_job_usage() from public, anon, authenticated, service_role;

create or replace function dashboard.recount_job_usage() returns bigint
language plpgsql set search_path = '' as $fn$
declare
  counted bigint;
begin
  counted := dashboard.rebuild_job_usage();
  perform dashboard.lay_out_job_usage();
  return counted;
end
$fn$;
comment on function dashboard.recount_job_usage() is
  'rebuild_job_usage(), then the rollups laid out by time (lay_out_job_usage()).';
revoke all on function dashboard.recount_job_usage() from public, anon, authenticated, service_role;

-- Rollups already counted (a project attached before this migration) are laid out here once, as a recount now
-- leaves them. This rewrites only our tables, holding folds and the dashboard's usage reads while it runs (about
-- 45 s for 1.8 GB of rollups at 10M jobs spread over 10,000 models), never the platform's writes, which go to the
-- deltas.
select dashboard.lay_out_job_usage();
