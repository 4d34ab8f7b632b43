-- 0023 — a recount holds the jobs it cannot put in an hour, rather than refusing: the first count on a live project
-- whose jobs allow a null created_at or status finishes, so the dashboard starts there.
--
-- 0022 moved a delta with such a side into dashboard.job_usage_held at a fold, but a recount (the first count when
-- attaching to a live project, `usage --rebuild`, seed-demo's loads) still read every job into an hour and so
-- refused while any such job existed: on a project that already held one, `migrate` could not finish and the
-- dashboard did not start until the platform's rows were changed. The recount now counts such a job into
-- job_usage_held instead, in the deltas' shape (one row per model, status, creation time, rating and duration
-- bucket, with its number of jobs), exactly as a fold would have held its deltas: readers add those rows as they add
-- the deltas, so every figure is the seed's (all time counts such a job, no range with a bound counts one without a
-- created_at, neither completed nor failed counts one without a status). A later change that gives the job a time
-- or a status writes a delta whose old side is the held one, which a fold holds too: the two add up to the job as it
-- now is.
--
-- jobs is still read once, in one statement: the jobs to hold are grouped with the rest under two more keys (the
-- creation time and rating of a held job; null for every other job, so the other groups do not grow).
--
-- The rebuild is written by install_usage_capture() for the columns jobs has (and rewritten at every fold), so that
-- function is redefined here: 0017's text with the rebuild's part changed (marked "new in 0023"). Only our
-- functions change; no trigger or write of the platform's is touched.

create or replace function dashboard.install_usage_capture() returns boolean
language plpgsql
set search_path = ''
as $fn$
declare
  jobs_table constant regclass := pg_catalog.to_regclass('public.jobs');
  -- The duration bucket of a job completed at %1$s and created at %2$s (both timestamptz): the number of edges
  -- below the duration. Durations are whole microseconds, so "edge < d" is "edge <= d - 1 us", which is what
  -- width_bucket counts. Infinite times are compared, never subtracted (PostgreSQL before 17 refuses that).
  bucket_of constant text := $b$case when %1$s <= %2$s then 0::smallint
    when %1$s = 'infinity'::timestamptz or %2$s = '-infinity'::timestamptz then 89::smallint
    else pg_catalog.width_bucket(%1$s - %2$s - '0.000001'::interval, '{0.062500,0.074325,0.088388,0.105112,
    0.125000,0.148651,0.176777,0.210224,0.250000,0.297302,0.353553,0.420448,0.500000,0.594604,0.707107,0.840896,
    1.000000,1.189207,1.414214,1.681793,2.000000,2.378414,2.828427,3.363586,4.000000,4.756828,5.656854,6.727171,
    8.000000,9.513657,11.313708,13.454343,16.000000,19.027314,22.627417,26.908685,32.000000,38.054628,45.254834,
    53.817371,64.000000,76.109255,90.509668,107.634741,128.000000,152.218511,181.019336,215.269482,256.000000,
    304.437021,362.038672,430.538965,512.000000,608.874043,724.077344,861.077929,1024.000000,1217.748086,
    1448.154688,1722.155858,2048.000000,2435.496172,2896.309376,3444.311717,4096.000000,4870.992343,5792.618751,
    6888.623434,8192.000000,9741.984686,11585.237503,13777.246868,16384.000000,19483.969372,23170.475006,
    27554.493735,32768.000000,38967.938744,46340.950012,55108.987470,65536.000000,77935.877489,92681.900024,
    110217.974940,131072.000000,155871.754978,185363.800047,220435.949880,262144.000000}'::interval[])::smallint
    end$b$;
  model_type text;
  status_type text;
  created_type text;
  rating_type text;
  completed_type text;
  by_completed_at boolean;
  created_new text := 'new.created_at';
  created_old text := 'old.created_at';
  created_col text := 'created_at';
  completed_col text := 'completed_at';
  rating_new text := 'null';
  rating_old text := 'null';
  rating_col text := 'null::integer';
  rating_changed text := '';
  completed_changed text := '';
  duration_new text := 'null::smallint';     -- the update trigger's new side
  duration_old text := 'null::smallint';     -- its old side
  duration_col text := 'null::smallint';     -- a row of jobs (or of a transition table, with t.) as it is
  latency_rebuild text;
  by_statement boolean;
  by_statement_body text;
  columns constant text := 'api_model_id, status, created_at, quality_rating, duration_bucket';
  old_columns constant text := 'old_api_model_id, old_status, old_created_at, old_quality_rating, old_duration_bucket';
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
  select pg_catalog.format_type(a.atttypid, null) into completed_type from pg_catalog.pg_attribute a
    where a.attrelid = jobs_table and a.attname = 'completed_at' and not a.attisdropped;

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
  -- The same test as dashboard.latency_basis().
  by_completed_at := completed_type in ('timestamp with time zone', 'timestamp without time zone');
  if completed_type = 'timestamp without time zone' then
    completed_col := 'pg_catalog.timezone(''UTC'', completed_at)';
  end if;
  if by_completed_at then
    completed_changed := ' or old.completed_at is distinct from new.completed_at';
    duration_new := pg_catalog.format('case when new.status::text = ''completed'' then %s end',
      pg_catalog.format(bucket_of, replace(completed_col, 'completed_at', 'new.completed_at'), created_new));
    duration_old := pg_catalog.format('case when old.status::text = ''completed'' then %s end',
      pg_catalog.format(bucket_of, replace(completed_col, 'completed_at', 'old.completed_at'), created_old));
    duration_col := pg_catalog.format('case when status::text = ''completed'' then %s end',
      pg_catalog.format(bucket_of, completed_col, created_col));
  else
    -- A log of completions: counted when the status becomes 'completed', never subtracted (see the header).
    duration_new := pg_catalog.format(
      'case when new.status::text = ''completed'' and old.status::text is distinct from ''completed'' then %s end',
      pg_catalog.format(bucket_of, 'pg_catalog.statement_timestamp()', created_new));
  end if;
  -- A plain table only: a partitioned jobs clones row triggers to its partitions (so writes that name a
  -- partition are counted) but not statement triggers; with inheritance, neither kind sees a write that names
  -- a child, and row triggers keep today's behaviour.
  by_statement := exists (select 1 from pg_catalog.pg_class c where c.oid = jobs_table and c.relkind = 'r')
                  and not exists (select 1 from pg_catalog.pg_inherits i
                                  where i.inhrelid = jobs_table or i.inhparent = jobs_table);

  -- Each body appends to the active delta table, named in the body itself: the fold switches writers by
  -- replacing these bodies (no lock on jobs; each session recompiles once), so a write reads nothing to
  -- find its table.
  select case s.active when 0 then 'dashboard.job_usage_delta' else 'dashboard.job_usage_delta_1' end
    into target from dashboard.usage_slot s;
  if by_statement then
    -- A statement of a few rows (the platform's usual single-row write) appends them as they are: grouping costs
    -- a hash table per call, about 15 us, more than the rows it would save. Past 16 rows, one delta per group.
    -- One text for both triggers: %1$s the function, %2$s its transition table, %3$s the delta columns it fills,
    -- %4$s creation time, %5$s rating, %7$s duration bucket (each read from the transition table t), %6$s the
    -- active delta table.
    by_statement_body := $f$
      create or replace function dashboard.%1$s() returns trigger
      language plpgsql security definer set search_path = '' as $b$
      declare
        rows_in_statement bigint;
      begin
        select pg_catalog.count(*) into rows_in_statement from %2$s;
        if rows_in_statement <= 16 then
          insert into %6$s (%3$s)
          select t.api_model_id, t.status::text, %4$s, %5$s, %7$s from %2$s t where t.api_model_id is not null;
        else
          insert into %6$s (%3$s, jobs)
          select t.api_model_id, t.status::text, pg_catalog.date_trunc('hour', %4$s, 'UTC'), %5$s, %7$s,
                 pg_catalog.count(*)
          from %2$s t where t.api_model_id is not null
          group by 1, 2, 3, 4, 5;
        end if;
        return null;
      end $b$$f$;
    execute pg_catalog.format(by_statement_body, 'record_job_insert', 'new_jobs', columns,
                              replace(created_col, 'created_at', 't.created_at'),
                              replace(rating_col, 'quality_rating', 't.quality_rating'), target,
                              case when by_completed_at then replace(replace(replace(duration_col,
                                'completed_at', 't.completed_at'), 'created_at', 't.created_at'), 'status::', 't.status::')
                                else 'null::smallint' end);
    execute pg_catalog.format(by_statement_body, 'record_job_delete', 'old_jobs', old_columns,
                              replace(created_col, 'created_at', 't.created_at'),
                              replace(rating_col, 'quality_rating', 't.quality_rating'), target,
                              case when by_completed_at then replace(replace(replace(duration_col,
                                'completed_at', 't.completed_at'), 'created_at', 't.created_at'), 'status::', 't.status::')
                                else 'null::smallint' end);
  else
    execute pg_catalog.format($f$
      create or replace function dashboard.record_job_insert() returns trigger
      language plpgsql security definer set search_path = '' as $b$
      begin
        insert into %4$s (%1$s) values (new.api_model_id, new.status::text, %2$s, %3$s, %5$s);
        return null;
      end $b$$f$, columns, created_new, rating_new, target,
      case when by_completed_at then duration_new else 'null::smallint' end);
    execute pg_catalog.format($f$
      create or replace function dashboard.record_job_delete() returns trigger
      language plpgsql security definer set search_path = '' as $b$
      begin
        insert into %4$s (%1$s) values (old.api_model_id, old.status::text, %2$s, %3$s, %5$s);
        return null;
      end $b$$f$, old_columns, created_old, rating_old, target, duration_old);
  end if;
  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_update() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into %7$s (%1$s, %2$s)
      values (new.api_model_id, new.status::text, %3$s, %4$s, %8$s,
              old.api_model_id, old.status::text, %5$s, %6$s, %9$s);
      return null;
    end $b$$f$, columns, old_columns, created_new, rating_new, created_old, rating_old, target,
    duration_new, duration_old);

  -- The same rule for anyone to apply to two moments (tests hold it equal to dashboard/queries/latency.py's).
  execute pg_catalog.format($f$
    create or replace function dashboard.latency_bucket(p_completed timestamptz, p_created timestamptz)
    returns smallint language sql immutable set search_path = '' as $b$ select %s $b$$f$,
    pg_catalog.format(bucket_of, 'p_completed', 'p_created'));

  -- The recount's latency part. With completed_at: counted from jobs with the rest (the "counted" rows below, per
  -- duration bucket too). Without: what was logged is kept, and the deltas it drops are folded into it first.
  if by_completed_at then
    latency_rebuild := $q$
      latency_hourly as (
        insert into dashboard.job_latency_hourly (bucket, api_model_id, duration_bucket, jobs)
        select c.bucket, c.api_model_id, c.duration_bucket, sum(c.jobs) from counted c
        where c.duration_bucket is not null and not c.held group by 1, 2, 3
        returning *
      )
      insert into dashboard.job_latency_daily (bucket, api_model_id, duration_bucket, jobs)
      select pg_catalog.date_trunc('day', h.bucket, 'UTC'), h.api_model_id, h.duration_bucket, sum(h.jobs)
      from latency_hourly h group by 1, 2, 3$q$;
  else
    latency_rebuild := $q$
      sides as materialized (
        select pg_catalog.date_trunc('hour', x.created_at, 'UTC') as bucket, x.api_model_id, x.duration_bucket,
               sum(x.jobs)::bigint as jobs
        from (select d.api_model_id, d.created_at, d.duration_bucket, d.jobs from dropped d
              union all select d.old_api_model_id, d.old_created_at, d.old_duration_bucket, -d.jobs from dropped d
              union all select d.api_model_id, d.created_at, d.duration_bucket, d.jobs from dropped_1 d
              union all select d.old_api_model_id, d.old_created_at, d.old_duration_bucket, -d.jobs from dropped_1 d) x
        where x.api_model_id is not null and x.duration_bucket is not null
        group by 1, 2, 3
      ), latency_hourly as (
        insert into dashboard.job_latency_hourly as t (bucket, api_model_id, duration_bucket, jobs)
        select s.bucket, s.api_model_id, s.duration_bucket, s.jobs from sides s
        on conflict (bucket, api_model_id, duration_bucket) do update set jobs = t.jobs + excluded.jobs
      )
      insert into dashboard.job_latency_daily as t (bucket, api_model_id, duration_bucket, jobs)
      select pg_catalog.date_trunc('day', s.bucket, 'UTC'), s.api_model_id, s.duration_bucket, sum(s.jobs)
      from sides s group by 1, 2, 3
      on conflict (bucket, api_model_id, duration_bucket) do update set jobs = t.jobs + excluded.jobs$q$;
  end if;

  -- Recounts the rollups from jobs without holding the platform's writes: the jobs it counts and the deltas it
  -- drops are read in one statement, so one snapshot (as in 0013), and jobs is read once for both.
  execute pg_catalog.format($f$
    create or replace function dashboard.rebuild_job_usage() returns bigint
    language plpgsql set search_path = '' as $b$
    declare
      counted bigint;
    begin
      perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('dashboard.fold_job_usage'));
      truncate dashboard.job_usage_hourly, dashboard.job_usage_daily, dashboard.job_usage_held;
      %4$s
      with dropped as (
        delete from dashboard.job_usage_delta returning *
      ), dropped_1 as (
        delete from dashboard.job_usage_delta_1 returning *
      ), counted as materialized (
        -- New in 0023: a job with no creation time or no status is "held", grouped by its exact time and rating.
        select pg_catalog.date_trunc('hour', j.created_at, 'UTC') as bucket, j.api_model_id, j.status,
               j.duration_bucket, count(*) as jobs, count(j.quality_rating) as rated,
               coalesce(sum(j.quality_rating), 0) as rating_sum, j.held,
               case when j.held then j.created_at end as held_created_at,
               case when j.held then j.quality_rating end as held_rating
        from (select api_model_id, status::text as status, %1$s as created_at, %2$s as quality_rating,
                     %3$s as duration_bucket, (created_at is null or status is null) as held
              from public.jobs where api_model_id is not null) j
        group by 1, 2, 3, 4, j.held, 9, 10
      ), held as (  -- new in 0023: what a fold would have held, in the deltas' shape
        insert into dashboard.job_usage_held (api_model_id, status, created_at, quality_rating, duration_bucket, jobs)
        select c.api_model_id, c.status, c.held_created_at, c.held_rating, c.duration_bucket, c.jobs
        from counted c where c.held
      ), hourly as (
        insert into dashboard.job_usage_hourly (bucket, api_model_id, status, jobs, rated, rating_sum)
        select c.bucket, c.api_model_id, c.status, sum(c.jobs), sum(c.rated), sum(c.rating_sum)
        from counted c where not c.held group by 1, 2, 3
        returning *
      ), daily as (
        insert into dashboard.job_usage_daily (bucket, api_model_id, status, jobs, rated, rating_sum)
        select pg_catalog.date_trunc('day', h.bucket, 'UTC'), h.api_model_id, h.status, sum(h.jobs), sum(h.rated),
               sum(h.rating_sum)
        from hourly h group by 1, h.api_model_id, h.status
      ), %5$s;
      update dashboard.usage_state set counted_at = pg_catalog.now();
      select coalesce(sum(d.jobs), 0) + (select coalesce(sum(h.jobs), 0) from dashboard.job_usage_held h)
        into counted from dashboard.job_usage_daily d;
      return counted;
    end $b$$f$, created_col, rating_col, duration_col,
    case when by_completed_at then 'truncate dashboard.job_latency_hourly, dashboard.job_latency_daily;' else '' end,
    latency_rebuild);

  -- A row trigger that should now be a statement trigger (or the other way round) is replaced (0015), and so is an
  -- update trigger that a change of completed_at should call and does not (0017, once). Otherwise
  -- triggers are created only where missing.
  if exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = jobs_table
             and t.tgname in ('dashboard_job_usage_insert', 'dashboard_job_usage_delete')
             and ((t.tgtype::integer & 1) = 1) = by_statement) then
    drop trigger if exists dashboard_job_usage_insert on public.jobs;
    drop trigger if exists dashboard_job_usage_delete on public.jobs;
  end if;
  if by_completed_at and exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = jobs_table
                                 and t.tgname = 'dashboard_job_usage_update'
                                 and pg_catalog.pg_get_triggerdef(t.oid) not like '%completed_at%') then
    drop trigger dashboard_job_usage_update on public.jobs;
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_insert') then
    if by_statement then
      create trigger dashboard_job_usage_insert after insert on public.jobs
        referencing new table as new_jobs for each statement execute function dashboard.record_job_insert();
    else
      create trigger dashboard_job_usage_insert after insert on public.jobs
        for each row when (new.api_model_id is not null) execute function dashboard.record_job_insert();
    end if;
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_delete') then
    if by_statement then
      create trigger dashboard_job_usage_delete after delete on public.jobs
        referencing old table as old_jobs for each statement execute function dashboard.record_job_delete();
    else
      create trigger dashboard_job_usage_delete after delete on public.jobs
        for each row when (old.api_model_id is not null) execute function dashboard.record_job_delete();
    end if;
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_update') then
    execute pg_catalog.format($f$
      create trigger dashboard_job_usage_update after update on public.jobs
        for each row
        when ((old.api_model_id is not null or new.api_model_id is not null)
              and (old.api_model_id is distinct from new.api_model_id
                   or old.status is distinct from new.status
                   or old.created_at is distinct from new.created_at%1$s%2$s))
        execute function dashboard.record_job_update()$f$, rating_changed, completed_changed);
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = jobs_table and tgname = 'dashboard_job_usage_truncate') then
    create trigger dashboard_job_usage_truncate after truncate on public.jobs
      for each statement execute function dashboard.reset_job_usage();
  end if;
  return true;
end
$fn$;
comment on function dashboard.install_usage_capture() is
  'Builds the usage triggers on public.jobs for the columns it has (run by migrations and folds); returns whether usage is captured.';
revoke all on function dashboard.install_usage_capture() from public, anon, authenticated, service_role;

-- 0022's recount, with no refusal: the rebuild holds what it cannot put in an hour, and empties the held rows itself.
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
  'rebuild_job_usage() (the jobs it cannot put in an hour held), then the rollups laid out by time.';
revoke all on function dashboard.recount_job_usage() from public, anon, authenticated, service_role;

select dashboard.install_usage_capture();
revoke all on function dashboard.rebuild_job_usage() from public, anon, authenticated, service_role;
