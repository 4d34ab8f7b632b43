-- 0018 — a data version that tells whether a write is still uncommitted.
--
-- The catalogue's data version (0010: the sequence dashboard.catalogue_writes) moves when a write's statement runs,
-- before its transaction commits. A click between the two read the catalogue as it was and kept that read under
-- the new version; after the commit the version did not move again, so every app process that had read in that
-- window served the old rows until the next write or the cache's expiry (ten minutes).
--
-- Now a writer also holds a shared advisory lock on one key until its transaction ends (taken before the bump), and
-- dashboard.catalogue_version() returns the count of writes with whether it is settled: no other transaction holds
-- that lock. It reads the count first, then the locks: a count that includes an uncommitted write is read while that
-- write's lock is still held, so it is never called settled. A settled count stays settled (a later write bumps the
-- count), so the app asks about the locks only for a count it has not yet seen settled (known).
--
-- Writers never wait here: shared advisory locks do not conflict with each other, and nothing of ours takes the key
-- exclusively. The key is (1684108136, 1), which is 'dash' read as a big-endian int4, and the catalogue's writes.

create or replace function dashboard.bump_data_version() returns trigger
language plpgsql security definer
set search_path = ''
as $fn$
begin
  perform pg_catalog.pg_advisory_xact_lock_shared(1684108136, 1);
  perform pg_catalog.nextval('dashboard.catalogue_writes'::pg_catalog.regclass);
  return null;
end
$fn$;
comment on function dashboard.bump_data_version() is
  'Statement trigger on the catalogue: holds the shared lock that dashboard.catalogue_version() looks for until the write ends, and bumps dashboard.catalogue_writes so that caches know when to refresh.';

create or replace function dashboard.catalogue_version(known bigint default null, out writes bigint, out settled boolean)
language plpgsql volatile security definer
set search_path = ''
as $fn$
begin
  select s.last_value into writes from dashboard.catalogue_writes s;
  settled := coalesce(writes = known, false) or not exists (
    select 1 from pg_catalog.pg_locks l
    where l.locktype = 'advisory' and l.classid = 1684108136::pg_catalog.oid
      and l.objid = 1::pg_catalog.oid and l.objsubid = 2 and l.granted
      and l.database = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
      and l.pid <> pg_catalog.pg_backend_pid()
  );
end
$fn$;
comment on function dashboard.catalogue_version(bigint) is
  'The catalogue''s data version: how many writes, and whether none is uncommitted (known: a count already seen settled). Security definer: reads pg_locks.';
revoke all on function dashboard.catalogue_version(bigint) from public, anon;
grant execute on function dashboard.catalogue_version(bigint) to authenticated, service_role;
