-- 0024 — a fold no longer holds readers up: usage reads go on while a fold runs, and wait for it 200 ms at most.
--
-- Since 0013 a fold locked the delta table it folds IN ACCESS EXCLUSIVE MODE for its whole length, so that it could
-- TRUNCATE it at the end. Every usage read locks both delta tables IN ACCESS SHARE MODE (or reads them, which takes
-- the same lock), so a read that came during a fold waited for all of it. Folds of a minute's writes take a few
-- milliseconds, but the first fold after a day with no dashboard running took 2.7 s here (166,668 deltas, 10,000
-- models, 10M jobs), and every read meanwhile, the pages' first clicks among them, waited that long.
--
-- Now the fold takes the table IN EXCLUSIVE MODE while it folds: that still waits for a writer from before the last
-- switch (ROW EXCLUSIVE), and gives up after 200 ms as before, but lets readers in. A reader's snapshot is taken
-- before the fold commits, so it sees the deltas and the rollups as they were: the same counts, both sides of one
-- moment. Only then does the fold ask for ACCESS EXCLUSIVE, to TRUNCATE what it folded (which frees it at once). If a
-- reader holds the table (a report in one snapshot, over several statements), it waits 200 ms at most, then DELETEs
-- the rows instead: MVCC-safe, so that reader still sees them as deltas, and the next fold of that table truncates
-- the dead rows. The work of the fold is kept either way (before, a lock it could not get undid nothing, because it
-- asked first; now the ask comes last, in a block of its own).
--
-- Only our function changes: writers still append to the other table and never wait for a fold.

create or replace function dashboard.fold_job_usage() returns bigint
language plpgsql security definer
set search_path = ''
as $fn$
declare
  writing smallint;
  folded bigint := 0;
begin
  if not (pg_catalog.current_setting('role') in ('none', 'service_role')
          or public.has_role(auth.uid(), 'admin'::public.app_role)) then
    return 0;
  end if;
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('dashboard.fold_job_usage')) then
    return 0;
  end if;
  select s.active into writing from dashboard.usage_slot s for update;
  perform pg_catalog.set_config('lock_timeout', '200ms', true);
  begin
    -- EXCLUSIVE: no writer left on it (one from before the switch is waited for, briefly); readers read on.
    if writing = 0 then
      lock table dashboard.job_usage_delta_1 in exclusive mode;
      select count(*) into folded from dashboard.job_usage_delta_1;
      if folded > 0 then
        perform dashboard.fold_deltas(1::smallint);
      end if;
    else
      lock table dashboard.job_usage_delta in exclusive mode;
      select count(*) into folded from dashboard.job_usage_delta;
      if folded > 0 then
        perform dashboard.fold_deltas(0::smallint);
      end if;
    end if;
  exception when lock_not_available then
    perform pg_catalog.set_config('lock_timeout', '0', true);
    return 0;  -- a writer from before the last switch is still open: nothing changed, the next fold retries
  end;
  begin
    -- Free what was folded at once (even when nothing was: a recount may have left dead rows), unless a reader in one
    -- snapshot holds the table past the lock timeout: then delete, which that reader does not see.
    if writing = 0 then
      lock table dashboard.job_usage_delta_1 in access exclusive mode;
      truncate dashboard.job_usage_delta_1;
    else
      lock table dashboard.job_usage_delta in access exclusive mode;
      truncate dashboard.job_usage_delta;
    end if;
  exception when lock_not_available then
    if writing = 0 then
      delete from dashboard.job_usage_delta_1;
    else
      delete from dashboard.job_usage_delta;
    end if;
  end;
  perform pg_catalog.set_config('lock_timeout', '0', true);
  update dashboard.usage_slot set active = 1 - writing;
  perform dashboard.install_usage_capture();  -- writers append to the table just emptied from now on
  return folded;
end
$fn$;
comment on function dashboard.fold_job_usage() is
  'Folds the delta table writers are not using into the rollups (readers read on meanwhile), frees it, and makes it the active one; returns the rows folded.';
revoke all on function dashboard.fold_job_usage() from public, anon;
grant execute on function dashboard.fold_job_usage() to authenticated, service_role;
