-- 0015 — inserts and deletes of jobs counted once per statement, not once per row.
--
-- Until now every job inserted or deleted ran a row trigger that appended one delta row. A backfill of a
-- million jobs by INSERT ... SELECT wrote a million delta rows (+68-81% on the statement), and every read
-- until the next fold paid for them. Now the insert and delete triggers are statement-level triggers with a
-- transition table: one call per statement; a bulk statement appends one delta per (model, status, hour,
-- rating) with the number of jobs it stands for (the new column `jobs`), a statement of a few rows its rows as
-- they are. A single-row insert costs one call, as before; a bulk statement one grouped insert. Status and other changes stay row triggers with a WHEN clause,
-- so that updates which touch none of the counted columns (progress, error text) still cost nothing: a
-- statement-level update trigger would run on every update of jobs.
--
-- A grouped delta's created_at is the hour it counts in (readers and folds only ever bucket by hour or day,
-- with whole-hour bounds). Deltas of one job each (a small statement, an update, and every delta written before
-- this migration) read as before: jobs defaults to 1.
--
-- Replacing a row trigger by a statement trigger means dropping it, which takes a lock on jobs that holds up
-- its reads as well as its writes while it waits; so this migration waits at most 2 s for it, and fails
-- ("run it again") rather than stalling the platform behind a long transaction.
set local lock_timeout = '2s';

alter table dashboard.job_usage_delta add column if not exists jobs bigint not null default 1;
alter table dashboard.job_usage_delta_1 add column if not exists jobs bigint not null default 1;
comment on column dashboard.job_usage_delta.jobs is
  'How many jobs this delta stands for (a statement''s inserts or deletes of one model, status, hour and rating).';
comment on column dashboard.job_usage_delta_1.jobs is
  'How many jobs this delta stands for (a statement''s inserts or deletes of one model, status, hour and rating).';

-- ─── Usage capture, for the jobs table the database has (replaces 0013's) ─────────────────────────
-- As in 0013: the status copied as text whatever its type, the rating only when it is a smallint or integer,
-- a created_at without time zone read as UTC, no trigger when jobs lacks api_model_id (uuid), status or
-- created_at; only constant fragments go into the generated bodies. New: inserts and deletes by statement,
-- when jobs is a plain table (see by_statement below); otherwise they stay row triggers.
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
  by_statement boolean;
  by_statement_body text;
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
    -- %4$s creation time, %5$s rating (each read from the transition table t), %6$s the active delta table.
    by_statement_body := $f$
      create or replace function dashboard.%1$s() returns trigger
      language plpgsql security definer set search_path = '' as $b$
      declare
        rows_in_statement bigint;
      begin
        select pg_catalog.count(*) into rows_in_statement from %2$s;
        if rows_in_statement <= 16 then
          insert into %6$s (%3$s)
          select t.api_model_id, t.status::text, %4$s, %5$s from %2$s t where t.api_model_id is not null;
        else
          insert into %6$s (%3$s, jobs)
          select t.api_model_id, t.status::text, pg_catalog.date_trunc('hour', %4$s, 'UTC'), %5$s, pg_catalog.count(*)
          from %2$s t where t.api_model_id is not null
          group by 1, 2, 3, 4;
        end if;
        return null;
      end $b$$f$;
    execute pg_catalog.format(by_statement_body, 'record_job_insert', 'new_jobs', columns,
                              replace(created_col, 'created_at', 't.created_at'),
                              replace(rating_col, 'quality_rating', 't.quality_rating'), target);
    execute pg_catalog.format(by_statement_body, 'record_job_delete', 'old_jobs', old_columns,
                              replace(created_col, 'created_at', 't.created_at'),
                              replace(rating_col, 'quality_rating', 't.quality_rating'), target);
  else
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
  end if;
  execute pg_catalog.format($f$
    create or replace function dashboard.record_job_update() returns trigger
    language plpgsql security definer set search_path = '' as $b$
    begin
      insert into %7$s (%1$s, %2$s)
      values (new.api_model_id, new.status::text, %3$s, %4$s, old.api_model_id, old.status::text, %5$s, %6$s);
      return null;
    end $b$$f$, columns, old_columns, created_new, rating_new, created_old, rating_old, target);

  -- Recounts the rollups from jobs without holding the platform's writes (as in 0013).
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

  -- A row trigger that should now be a statement trigger (or the other way round) is replaced: this happens
  -- once, in this migration, under its lock timeout. Otherwise triggers are created only where missing.
  if exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = jobs_table
             and t.tgname in ('dashboard_job_usage_insert', 'dashboard_job_usage_delete')
             and ((t.tgtype::integer & 1) = 1) = by_statement) then
    drop trigger if exists dashboard_job_usage_insert on public.jobs;
    drop trigger if exists dashboard_job_usage_delete on public.jobs;
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
  'Builds the usage triggers on public.jobs for the columns it has (run by migrations and folds); returns whether usage is captured.';
revoke all on function dashboard.install_usage_capture() from public, anon, authenticated, service_role;
select dashboard.install_usage_capture();
revoke all on function dashboard.record_job_insert() from public, anon, authenticated, service_role;
revoke all on function dashboard.record_job_delete() from public, anon, authenticated, service_role;
revoke all on function dashboard.record_job_update() from public, anon, authenticated, service_role;
revoke all on function dashboard.rebuild_job_usage() from public, anon, authenticated, service_role;

-- ─── The arithmetic of a fold, with each delta counting its jobs ──────────────────────────────────
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
end
$fn$;
revoke all on function dashboard.fold_deltas(smallint) from public, anon, authenticated, service_role;
