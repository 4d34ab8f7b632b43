-- 0001 — Supabase's auth surface, created only where it is missing.
-- On a live Supabase project every object below already exists and this migration changes nothing.
-- On plain PostgreSQL (the embedded server, CI) it emulates what RLS policies need: the roles
-- anon / authenticated / service_role, the auth schema, auth.users and auth.uid().

-- ─── Roles ────────────────────────────────────────────────────────────────────────────────────
do $do$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$do$;

-- ─── auth schema and users ────────────────────────────────────────────────────────────────────
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id                 uuid primary key default gen_random_uuid(),
  email              text,
  encrypted_password text,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);
create unique index if not exists users_email_partial_key on auth.users (email) where email is not null;

-- auth.uid() exactly as Supabase defines it: the JWT's sub claim, set per transaction.
do $do$
begin
  if not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth' and p.proname = 'uid'
  ) then
    create function auth.uid() returns uuid
    language sql stable
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $fn$;
    comment on function auth.uid() is 'The signed-in user''s id from the request''s JWT claims (Supabase emulation).';
  end if;
end
$do$;
