-- 0021 — which models each catalogue write touched, so that a cache can read those rows again and keep the rest.
--
-- Every cached read of the catalogue is keyed by its data version (0010, 0018), so the first click after any write
-- read the whole catalogue again: at 10,000 models, under the seed's policy, has_role() once per row (about 190 ms
-- for the Usage page's catalogue alone, 88 ms of it as the table's owner). A write usually touches one model.
--
-- dashboard.catalogue_changes holds, per write (dashboard.catalogue_writes' value for that statement), the ids of
-- the models it inserted, updated or deleted, with their slots (modality and task) before and after, so that a
-- read of slots can read those slots again and keep the others; a null id means any model may have changed (a truncate, or a write to
-- api_providers, whose names and state every model's row shows). A reader that holds the catalogue as of a settled
-- count reads the ids written after it and then those rows only, under RLS as ever: a row no longer returned is
-- gone for that reader (deleted, or no longer visible to it). dashboard.catalogue_changes_floor says up to which
-- count changes may be missing (before this migration, or pruned): a reader older than that reads everything.
--
-- The count and the ids come from one statement trigger per write statement, with the shared lock that
-- dashboard.catalogue_version() looks for (0018) taken first: a count seen settled has every id of every write up
-- to it committed (or rolled back with its write). The inserts go to our own table with its owner's rights, and
-- ids are kept as text, so nothing here can refuse a write the platform makes. Only admins read it (ids of inactive
-- models are none of a plain user's business); anyone else's reads are read whole, as before.
--
-- Replacing api_models' statement trigger means dropping it, which takes a lock on api_models that holds up its
-- reads as well as its writes while it waits; so this migration waits at most 2 s for it, and fails ("run it
-- again") rather than stalling the platform behind a long transaction.
set local lock_timeout = '2s';

create table if not exists dashboard.catalogue_changes (
  write    bigint not null,  -- dashboard.catalogue_writes' value for the write statement
  model_id text,             -- the model's id; null: any model may have changed
  modality text,             -- its slot before or after the write (a row each when they differ)
  task     text,
  written_at timestamptz not null default pg_catalog.now()
);
create index if not exists catalogue_changes_write on dashboard.catalogue_changes (write);
comment on table dashboard.catalogue_changes is
  'Per catalogue write, the ids of the models it touched (null: any model); pruned to the last hour and 10,000 writes.';

create table if not exists dashboard.catalogue_changes_floor (
  id    boolean primary key default true check (id),
  write bigint  not null, -- changes of writes up to this count may be missing here
  epoch uuid    not null default pg_catalog.gen_random_uuid()  -- this log's: a database made again has another
);
comment on table dashboard.catalogue_changes_floor is
  'Up to which catalogue write count dashboard.catalogue_changes may lack changes (before it existed, or pruned).';

do $do$
declare
  t text;
begin
  foreach t in array array['catalogue_changes', 'catalogue_changes_floor'] loop
    execute pg_catalog.format('alter table dashboard.%I enable row level security', t);
    if not exists (select 1 from pg_catalog.pg_policies where schemaname = 'dashboard' and tablename = t) then
      execute pg_catalog.format(
        'create policy "Admins read catalogue changes" on dashboard.%I for select to authenticated '
        'using ((select public.has_role((select auth.uid()), ''admin''::public.app_role)))', t);
    end if;
    execute pg_catalog.format('revoke all on dashboard.%I from public, anon', t);
    execute pg_catalog.format('grant select on dashboard.%I to authenticated, service_role', t);
  end loop;
end
$do$;

-- Every write statement on the catalogue: the shared lock, the count, and the ids the statement touched (from its
-- transition tables on api_models). A null id instead for a truncate, a write to api_providers, or a statement that
-- touched more than 1,000 models (readers read everything past that many anyway): so the log holds at most 1,000
-- models a write, whatever a platform's sync job rewrites. Every 100th write drops what is older than an hour or than
-- the last 10,000 writes (a reader keeps nothing for more than ten minutes) and raises the floor past what it dropped.
create or replace function dashboard.bump_data_version() returns trigger
language plpgsql security definer
set search_path = ''
as $fn$
declare
  written bigint;
  touched bigint := 0;
begin
  perform pg_catalog.pg_advisory_xact_lock_shared(1684108136, 1);
  written := pg_catalog.nextval('dashboard.catalogue_writes'::pg_catalog.regclass);
  if tg_table_name = 'api_models' and tg_op = 'INSERT' then
    select count(*) into touched from new_models;
  elsif tg_table_name = 'api_models' and tg_op in ('UPDATE', 'DELETE') then
    select count(*) into touched from old_models;
  end if;
  if tg_table_name <> 'api_models' or tg_op = 'TRUNCATE' or touched > 1000 then
    insert into dashboard.catalogue_changes (write, model_id) values (written, null);
  elsif tg_op = 'INSERT' then
    insert into dashboard.catalogue_changes (write, model_id, modality, task)
    select written, n.id::text, n.modality::text, n.task::text from new_models n;
  elsif tg_op = 'DELETE' then
    insert into dashboard.catalogue_changes (write, model_id, modality, task)
    select written, o.id::text, o.modality::text, o.task::text from old_models o;
  else
    insert into dashboard.catalogue_changes (write, model_id, modality, task)
    select written, n.id::text, n.modality::text, n.task::text from new_models n
    union select written, o.id::text, o.modality::text, o.task::text from old_models o;
  end if;
  if written % 100 = 0 then
    with gone as (
      delete from dashboard.catalogue_changes c
      where c.write <= written - 10000 or c.written_at < pg_catalog.now() - interval '1 hour'
      returning c.write
    )
    update dashboard.catalogue_changes_floor f set write = g.top
    from (select max(gone.write) as top from gone) g
    where g.top > f.write;
  end if;
  return null;
end
$fn$;
comment on function dashboard.bump_data_version() is
  'Statement trigger on the catalogue: holds the shared lock that dashboard.catalogue_version() looks for until the write ends, bumps dashboard.catalogue_writes, and notes the models the statement touched.';
revoke all on function dashboard.bump_data_version() from public, anon, authenticated, service_role;

drop trigger if exists dashboard_bump_data_version on public.api_models;
create or replace trigger dashboard_models_inserted after insert on public.api_models
  referencing new table as new_models for each statement execute function dashboard.bump_data_version();
create or replace trigger dashboard_models_updated after update on public.api_models
  referencing old table as old_models new table as new_models
  for each statement execute function dashboard.bump_data_version();
create or replace trigger dashboard_models_deleted after delete on public.api_models
  referencing old table as old_models for each statement execute function dashboard.bump_data_version();
create or replace trigger dashboard_models_truncated after truncate on public.api_models
  for each statement execute function dashboard.bump_data_version();
-- Unchanged, but made again: a provider write in flight waits for this migration, so none runs the function as it
-- was after the floor below is read.
create or replace trigger dashboard_bump_data_version after insert or update or delete or truncate
  on public.api_providers for each statement execute function dashboard.bump_data_version();

-- Writes up to now are not in the log (the triggers above only start now, inside this migration's transaction,
-- which waits for every write in flight): a reader that holds an older count reads everything once.
insert into dashboard.catalogue_changes_floor (id, write)
select true, s.last_value from dashboard.catalogue_writes s
on conflict (id) do update set write = greatest(dashboard.catalogue_changes_floor.write, excluded.write);
