-- 0001 — Supabase's auth surface, created only where it is missing.
-- On a live Supabase project every object below already exists and this migration changes nothing: it
-- looks before it acts, because Supabase's postgres role has USAGE on the auth schema but no CREATE
-- there, and PostgreSQL checks CREATE before it looks whether an object exists ("create ... if not
-- exists" still fails). On plain PostgreSQL (the embedded server, CI) it emulates what RLS policies
-- need: the roles anon / authenticated / service_role, the auth schema, auth.users and auth.uid().
-- What it creates is recorded in dashboard.created_objects, so later migrations touch only what is ours.

-- Databases migrated before this file was written have no such records; 0010 works them out once.
insert into dashboard.created_objects (object) values ('(recorded from the start)') on conflict do nothing;

-- ─── Roles ────────────────────────────────────────────────────────────────────────────────────
do $do$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$do$;

-- ─── auth schema, users and uid() ─────────────────────────────────────────────────────────────
do $do$
begin
  if not exists (select 1 from pg_catalog.pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
    insert into dashboard.created_objects (object) values ('auth');
  end if;

  if pg_catalog.to_regclass('auth.users') is null then
    create table auth.users (
      id                 uuid primary key default gen_random_uuid(),
      email              text,
      encrypted_password text,
      raw_user_meta_data jsonb not null default '{}'::jsonb,
      created_at         timestamptz not null default now(),
      updated_at         timestamptz not null default now()
    );
    create unique index users_email_partial_key on auth.users (email) where email is not null;
    insert into dashboard.created_objects (object) values ('auth.users');
  end if;

  -- auth.uid() exactly as Supabase defines it: the JWT's sub claim, set per transaction.
  if not exists (select 1 from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'auth' and p.proname = 'uid') then
    create function auth.uid() returns uuid
    language sql stable
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $fn$;
    comment on function auth.uid() is 'The signed-in user''s id from the request''s JWT claims (Supabase emulation).';
    insert into dashboard.created_objects (object) values ('auth.uid');
  end if;
end
$do$;
