-- 0008 — dashboard.job_usage(), planned by index at any size.
--
-- 0005's version computed the day bounds in a CTE, so the planner saw them only at run time. On a
-- ten-million-job database, after a large fold had bloated the hourly rollup, it chose to scan that
-- table whole and filter (110 ms for "all time") instead of reading two empty index ranges. Here the
-- bounds are immutable functions of the arguments (date_trunc in the fixed UTC zone is deterministic),
-- so with constant arguments they are folded at plan time, and each rollup is read by a plain range.

create or replace function dashboard.usage_day_lo(p_start timestamptz, p_end timestamptz) returns timestamptz
language sql immutable parallel safe
return least(case when date_trunc('day', p_start, 'UTC') = p_start then p_start
                  else date_trunc('day', p_start, 'UTC') + interval '1 day' end, p_end);
comment on function dashboard.usage_day_lo(timestamptz, timestamptz) is
  'The first whole UTC day inside [p_start, p_end), or p_end when there is none.';

create or replace function dashboard.usage_day_hi(p_start timestamptz, p_end timestamptz) returns timestamptz
language sql immutable parallel safe
return greatest(least(date_trunc('day', p_end, 'UTC'), p_end), dashboard.usage_day_lo(p_start, p_end));
comment on function dashboard.usage_day_hi(timestamptz, timestamptz) is
  'The end of the last whole UTC day inside [p_start, p_end) (never before usage_day_lo).';

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
  select x.api_model_id, x.status, date_trunc('day', x.bucket, 'UTC'), x.jobs, x.rated, x.rating_sum
  from dashboard.job_usage_delta x
  where x.bucket >= p_start and x.bucket < p_end
$fn$;
comment on function dashboard.job_usage(timestamptz, timestamptz) is
  'Job counts per model, status and day (UTC) for jobs created in [p_start, p_end) (whole hours), exact at this moment.';

grant execute on function dashboard.usage_day_lo(timestamptz, timestamptz) to authenticated, service_role;
grant execute on function dashboard.usage_day_hi(timestamptz, timestamptz) to authenticated, service_role;
