-- 0017 — how long completed jobs took, per model and hour, exact to a duration bucket, without scanning jobs.
--
-- Every delta the usage triggers write now also carries the job's duration bucket, as written and as it was
-- (duration_bucket, old_duration_bucket; null when the job is not completed or has no duration), and the fold
-- counts them into two more rollups in the same transaction as the usage counts:
--
--   job_latency_hourly   completed jobs per hour of creation (UTC), model and duration bucket;
--   job_latency_daily    the same per day.
--
-- Duration buckets are fixed and log-scale: bucket k holds durations d with EDGES[k-1] < d <= EDGES[k], the edges
-- 2^((k-16)/4) seconds rounded to the microsecond (k = 0..88: 0.0625 s to 262,144 s, about 3 days), each 2^(1/4)
-- (19%) wider than the one before; bucket 0 also holds every duration at or below 0.0625 s, zero and negative ones
-- included (clock skew), and bucket 89 every duration above the last edge, absurd ones included. The edges, the
-- buckets' rule and the percentiles read from them are dashboard/queries/latency.py's (EDGES, bucket_of), which
-- its tests hold equal to the SQL here.
--
-- A duration is completed_at - created_at where jobs has a completed_at column (a timestamp), counted when the
-- job's status is 'completed' and completed_at is set (a platform setting completed_at in a later statement than
-- the status is counted then: the update trigger fires on a change of completed_at too). Where jobs has none, it
-- is the moment the trigger saw the status become 'completed' minus created_at ('status_change', see
-- dashboard.latency_basis()): a log of completions as they were seen. Jobs inserted already completed have no
-- duration there, and nothing is subtracted when such a job is deleted, reverts or moves to another model (a
-- job's completion time is kept nowhere but in the rollups), and a recount keeps what was logged.
--
-- The extra work on a write to jobs is one computed column: a CASE and a binary search of 89 constant intervals
-- (pg_catalog.width_bucket), on the statement triggers' rows and in the update row trigger.
--
-- The latency of the jobs already there is counted by the recount that migrating runs after this file, outside
-- its transaction (db/live.py: finish_attaching, as for a first count): one read of jobs in one snapshot,
-- holding none of the platform's writes. This file itself reads no job, so it holds the delta tables (and with
-- them the platform's writes to jobs) only for the milliseconds it takes to commit.
--
-- Replacing the update row trigger (its WHEN clause now names completed_at) takes a lock on jobs that holds up its
-- reads as well as its writes while it waits, so this migration waits at most 2 s for it, and fails ("run it
-- again") rather than stalling the platform behind a long transaction.
set local lock_timeout = '2s';

-- No fold or recount while the delta tables change shape.
select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('dashboard.fold_job_usage'));

-- ─── Tables ──────────────────────────────────────────────────────────────────────────────────────
alter table dashboard.job_usage_delta add column if not exists duration_bucket smallint,
  add column if not exists old_duration_bucket smallint;
alter table dashboard.job_usage_delta_1 add column if not exists duration_bucket smallint,
  add column if not exists old_duration_bucket smallint;
comment on column dashboard.job_usage_delta.duration_bucket is
  'The job''s duration bucket as written (dashboard/queries/latency.py); null: not completed, or no duration.';
comment on column dashboard.job_usage_delta_1.duration_bucket is
  'The job''s duration bucket as written (dashboard/queries/latency.py); null: not completed, or no duration.';

create table if not exists dashboard.job_latency_hourly (
  bucket          timestamptz not null,  -- the hour (UTC) the jobs were created in
  api_model_id    uuid        not null,
  duration_bucket smallint    not null,
  jobs            bigint      not null,
  primary key (bucket, api_model_id, duration_bucket)
);
comment on table dashboard.job_latency_hourly is
  'Completed jobs per hour of creation (UTC), model and duration bucket, folded from the usage deltas.';

create table if not exists dashboard.job_latency_daily (
  bucket          timestamptz not null,  -- the UTC day the jobs were created in
  api_model_id    uuid        not null,
  duration_bucket smallint    not null,
  jobs            bigint      not null,
  primary key (bucket, api_model_id, duration_bucket)
);
comment on table dashboard.job_latency_daily is
  'Completed jobs per day of creation (UTC), model and duration bucket, folded from the usage deltas.';

-- ─── Who may read: admins only, like the other rollups ──────────────────────────────────────────
do $do$
declare
  t text;
begin
  foreach t in array array['job_latency_hourly', 'job_latency_daily'] loop
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

-- ─── Which durations are counted ────────────────────────────────────────────────────────────────
-- 'completed_at' when jobs has a completed_at timestamp, 'status_change' when not, null when usage is not
-- captured at all. install_usage_capture() below decides by the same column test.
create or replace function dashboard.latency_basis() returns text
language sql stable
set search_path = ''
as $fn$
  select case
    when not exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = pg_catalog.to_regclass('public.jobs')
                     and t.tgname = 'dashboard_job_usage_insert') then null
    when exists (select 1 from pg_catalog.pg_attribute a
                 where a.attrelid = pg_catalog.to_regclass('public.jobs') and a.attname = 'completed_at'
                   and not a.attisdropped
                   and a.atttypid in ('timestamp with time zone'::pg_catalog.regtype,
                                      'timestamp without time zone'::pg_catalog.regtype)) then 'completed_at'
    else 'status_change'
  end
$fn$;
comment on function dashboard.latency_basis() is
  'How job durations are measured: completed_at (minus created_at), status_change (when the trigger saw it), or null.';
revoke all on function dashboard.latency_basis() from public, anon;
grant execute on function dashboard.latency_basis() to authenticated, service_role;

-- ─── Usage capture, for the jobs table the database has (replaces 0015's) ─────────────────────────
-- As in 0015, plus the duration bucket on each side of each delta, and completed_at in the update trigger's WHEN
-- clause. Only constant fragments go into the generated bodies; nothing read from the database does.
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
        where c.duration_bucket is not null group by 1, 2, 3
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
      truncate dashboard.job_usage_hourly, dashboard.job_usage_daily;
      %4$s
      with dropped as (
        delete from dashboard.job_usage_delta returning *
      ), dropped_1 as (
        delete from dashboard.job_usage_delta_1 returning *
      ), counted as materialized (
        select pg_catalog.date_trunc('hour', j.created_at, 'UTC') as bucket, j.api_model_id, j.status,
               j.duration_bucket, count(*) as jobs, count(j.quality_rating) as rated,
               coalesce(sum(j.quality_rating), 0) as rating_sum
        from (select api_model_id, status::text as status, %1$s as created_at, %2$s as quality_rating,
                     %3$s as duration_bucket
              from public.jobs where api_model_id is not null) j
        group by 1, 2, 3, 4
      ), hourly as (
        insert into dashboard.job_usage_hourly (bucket, api_model_id, status, jobs, rated, rating_sum)
        select c.bucket, c.api_model_id, c.status, sum(c.jobs), sum(c.rated), sum(c.rating_sum)
        from counted c group by 1, 2, 3
        returning *
      ), daily as (
        insert into dashboard.job_usage_daily (bucket, api_model_id, status, jobs, rated, rating_sum)
        select pg_catalog.date_trunc('day', h.bucket, 'UTC'), h.api_model_id, h.status, sum(h.jobs), sum(h.rated),
               sum(h.rating_sum)
        from hourly h group by 1, h.api_model_id, h.status
      ), %5$s;
      update dashboard.usage_state set counted_at = pg_catalog.now();
      select coalesce(sum(d.jobs), 0) into counted from dashboard.job_usage_daily d;
      return counted;
    end $b$$f$, created_col, rating_col, duration_col,
    case when by_completed_at then 'truncate dashboard.job_latency_hourly, dashboard.job_latency_daily;' else '' end,
    latency_rebuild);

  -- A row trigger that should now be a statement trigger (or the other way round) is replaced (0015), and so is an
  -- update trigger that a change of completed_at should call and does not (this migration, once). Otherwise
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

-- ─── Emptied with jobs ───────────────────────────────────────────────────────────────────────────
create or replace function dashboard.reset_job_usage() returns trigger
language plpgsql security definer
set search_path = ''
as $fn$
begin
  truncate dashboard.job_usage_delta, dashboard.job_usage_delta_1, dashboard.job_usage_hourly,
           dashboard.job_usage_daily, dashboard.job_latency_hourly, dashboard.job_latency_daily;
  return null;
end
$fn$;

-- ─── Folded with the counts, in the same transaction ─────────────────────────────────────────────
-- A delta's two sides, as the counts read them (0009): the job as written (+jobs) in its duration bucket, the job as
-- it was (-jobs) in its old one, each only with a model and a bucket.
create or replace function dashboard.fold_latency(_slot smallint) returns void
language plpgsql
set search_path = ''
as $fn$
begin
  with gone as (
    select d.api_model_id, d.created_at, d.duration_bucket, d.old_api_model_id, d.old_created_at,
           d.old_duration_bucket, d.jobs
    from dashboard.job_usage_delta d where _slot = 0
    union all
    select d.api_model_id, d.created_at, d.duration_bucket, d.old_api_model_id, d.old_created_at,
           d.old_duration_bucket, d.jobs
    from dashboard.job_usage_delta_1 d where _slot = 1
  ), sides as (
    select g.api_model_id, g.created_at, g.duration_bucket, g.jobs
    from gone g where g.api_model_id is not null and g.duration_bucket is not null
    union all
    select g.old_api_model_id, g.old_created_at, g.old_duration_bucket, -g.jobs
    from gone g where g.old_api_model_id is not null and g.old_duration_bucket is not null
  ), hourly as materialized (
    select pg_catalog.date_trunc('hour', s.created_at, 'UTC') as bucket, s.api_model_id, s.duration_bucket,
           sum(s.jobs)::bigint as jobs
    from sides s group by 1, 2, 3
  ), into_hourly as (
    insert into dashboard.job_latency_hourly as t (bucket, api_model_id, duration_bucket, jobs)
    select h.bucket, h.api_model_id, h.duration_bucket, h.jobs from hourly h
    on conflict (bucket, api_model_id, duration_bucket) do update set jobs = t.jobs + excluded.jobs
  )
  insert into dashboard.job_latency_daily as t (bucket, api_model_id, duration_bucket, jobs)
  select pg_catalog.date_trunc('day', h.bucket, 'UTC'), h.api_model_id, h.duration_bucket, sum(h.jobs)
  from hourly h group by 1, 2, 3
  on conflict (bucket, api_model_id, duration_bucket) do update set jobs = t.jobs + excluded.jobs;
end
$fn$;
comment on function dashboard.fold_latency(smallint) is 'fold_job_usage()''s arithmetic for durations, for one delta table.';
revoke all on function dashboard.fold_latency(smallint) from public, anon, authenticated, service_role;

-- 0015's arithmetic for the counts, then the durations: fold_job_usage() calls this for the table it folds.
create or replace function dashboard.fold_deltas(_slot smallint) returns void
language plpgsql
set search_path = ''
as $fn$
begin
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
end
$fn$;
revoke all on function dashboard.fold_deltas(smallint) from public, anon, authenticated, service_role;

-- ─── Install, and have the jobs already there counted once this commits ───────────────────────────
select dashboard.install_usage_capture();
revoke all on function dashboard.record_job_insert() from public, anon, authenticated, service_role;
revoke all on function dashboard.record_job_delete() from public, anon, authenticated, service_role;
revoke all on function dashboard.record_job_update() from public, anon, authenticated, service_role;
revoke all on function dashboard.rebuild_job_usage() from public, anon, authenticated, service_role;
do $do$
begin
  if pg_catalog.to_regprocedure('dashboard.latency_bucket(timestamptz, timestamptz)') is not null then
    revoke all on function dashboard.latency_bucket(timestamptz, timestamptz) from public, anon;
    grant execute on function dashboard.latency_bucket(timestamptz, timestamptz) to authenticated, service_role;
  end if;
end
$do$;
-- The recount after migrating (db/live.py) counts the latency of the jobs already there, with completed_at; without
-- it there is nothing to count from jobs.
update dashboard.usage_state set counted_at = null where dashboard.latency_basis() = 'completed_at';
