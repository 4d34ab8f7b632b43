-- 0011 — signing in as Supabase Auth would let someone in, and who the signed-in person is, on our emulated
-- auth.users (id, email, encrypted_password, raw_user_meta_data, created_at, updated_at) as much as on
-- Supabase's own (banned_until, deleted_at, email_confirmed_at, is_sso_user..., auth.mfa_factors).
--
-- Columns that only Supabase has are read through to_jsonb(row) ->> 'name', so a missing one reads as null
-- instead of failing; tables that only Supabase has (auth.mfa_factors) are looked up with to_regclass and read
-- with EXECUTE of constant text. Enum columns are compared as text. Every function here has an empty
-- search_path and names everything with its schema: pg_catalog is still searched, nothing else is.
--
-- The app's login role calls the two sign-in functions before anyone is signed in; like 0007's, nobody may
-- execute them but the owner and the roles an operator grants them to (docs/production.md). People's roles
-- get only signed_in_identity(), which tells a signed-in person about themselves.

-- ─── The account a sign-in is checked against, and what Supabase Auth would say about it ───────────
-- One row for an email (lower-cased by the caller), or none. Where Supabase has an email user and an SSO
-- user with the same email, the email user's row is the one returned.
--   banned       banned_until is in the future
--   deleted      deleted_at is set (Supabase's soft delete)
--   unconfirmed  the email_confirmed_at column exists and is null
--   needs_totp   a verified TOTP factor exists; null when auth.mfa_factors exists but cannot be read
--   totp_secrets the secrets of the verified TOTP factors, newest first, where the secret column exists, may be
--                read, and holds a base32 secret (not an encrypted one); null when there is none
--   other_factor a verified factor of another kind (phone, WebAuthn) exists, which the app cannot check
-- The caller checks the password first and looks at the rest only when it is right.
create or replace function dashboard.sign_in_account_state(_email text)
returns table (
  id uuid,
  encrypted_password text,
  banned boolean,
  deleted boolean,
  unconfirmed boolean,
  needs_totp boolean,
  totp_secrets text[],
  other_factor boolean
)
language plpgsql stable security definer
set search_path = ''
as $fn$
#variable_conflict use_column
declare
  account jsonb;
begin
  select pg_catalog.to_jsonb(u) into account
  from auth.users u
  where pg_catalog.lower(u.email) operator(pg_catalog.=) _email
  order by coalesce((pg_catalog.to_jsonb(u) operator(pg_catalog.->>) 'is_sso_user')::boolean, false),
           u.created_at nulls last, u.id
  limit 1;
  if account is null then
    return;
  end if;

  id := (account operator(pg_catalog.->>) 'id')::uuid;
  encrypted_password := account operator(pg_catalog.->>) 'encrypted_password';
  banned := coalesce((account operator(pg_catalog.->>) 'banned_until')::timestamptz
                     operator(pg_catalog.>) pg_catalog.now(), false);
  deleted := (account operator(pg_catalog.->>) 'deleted_at') is not null;
  unconfirmed := account operator(pg_catalog.?) 'email_confirmed_at'
                 and (account operator(pg_catalog.->>) 'email_confirmed_at') is null;
  needs_totp := false;
  other_factor := false;

  if pg_catalog.to_regclass('auth.mfa_factors') is not null then
    begin
      -- Whole rows through to_jsonb, so that a missing secret column reads as null.
      execute $q$
        select coalesce(pg_catalog.bool_or(f.factor_type::text operator(pg_catalog.=) 'totp'), false),
               coalesce(pg_catalog.bool_or(f.factor_type::text operator(pg_catalog.<>) 'totp'), false),
               pg_catalog.array_agg(pg_catalog.to_jsonb(f) operator(pg_catalog.->>) 'secret' order by f.created_at desc)
                 filter (where f.factor_type::text operator(pg_catalog.=) 'totp'
                         and (pg_catalog.to_jsonb(f) operator(pg_catalog.->>) 'secret')
                             operator(pg_catalog.~) '^[A-Za-z2-7]{16,}=*$')
        from auth.mfa_factors f
        where f.user_id operator(pg_catalog.=) $1 and f.status::text operator(pg_catalog.=) 'verified'
      $q$ into needs_totp, other_factor, totp_secrets using id;
    exception when insufficient_privilege then
      -- Some columns (the secret) may not be read: whether a factor exists can still be known.
      begin
        execute $q$
          select coalesce(pg_catalog.bool_or(f.factor_type::text operator(pg_catalog.=) 'totp'), false),
                 coalesce(pg_catalog.bool_or(f.factor_type::text operator(pg_catalog.<>) 'totp'), false)
          from auth.mfa_factors f
          where f.user_id operator(pg_catalog.=) $1 and f.status::text operator(pg_catalog.=) 'verified'
        $q$ into needs_totp, other_factor using id;
        totp_secrets := null;
      exception when insufficient_privilege or undefined_column then
        needs_totp := null;  -- unknown: the app lets nobody in on a password alone then
        totp_secrets := null;
      end;
    when undefined_column then
      needs_totp := null;
      totp_secrets := null;
    end;
  end if;
  return next;
end
$fn$;
comment on function dashboard.sign_in_account_state(text) is
  'The account of a lower-cased email for a password sign-in: id, bcrypt hash, and whether Supabase Auth would refuse it (banned, deleted, unconfirmed) or ask for a second factor (verified TOTP factors and their secrets).';

-- ─── What an unknown email's password is checked against ─────────────────────────────────────
-- An unknown email is checked against a dummy hash so that it takes as long as a wrong password. That hash
-- must cost what real ones cost: Supabase writes cost-10 hashes, and a cost-12 dummy would tell which
-- accounts exist by the time taken. The cost of the most recently written bcrypt hash, or 10 (Supabase's).
-- updated_at and created_at are read through to_jsonb: an auth.users of another shape may lack them.
create or replace function dashboard.sign_in_hash_cost()
returns integer
language sql stable security definer
set search_path = ''
as $fn$
  select coalesce(
    (select pg_catalog.substring(u.encrypted_password::text, '^\$2[abxy]\$([0-9]{2})\$')::integer
       from auth.users u
      where u.encrypted_password::text operator(pg_catalog.~) '^\$2[abxy]\$[0-9]{2}\$'
      order by (pg_catalog.to_jsonb(u) ->> 'updated_at')::timestamptz desc nulls last,
               (pg_catalog.to_jsonb(u) ->> 'created_at')::timestamptz desc nulls last
      limit 1),
    10)
$fn$;
comment on function dashboard.sign_in_hash_cost() is
  'The bcrypt cost of the newest password hash in auth.users (10 when there is none), for the dummy check of an unknown email.';

-- ─── Who the signed-in person is ────────────────────────────────────────────────────────────
-- For auth.uid() only. The email is the profile's where profiles has an email column and it is set, else
-- the account's; the name is the profile's display_name, full_name or username (Supabase's quickstart
-- profiles has no email and no display_name), else the email. No row when the account is gone; banned and
-- deleted say whether Supabase Auth would still let them in. Security definer so that a person whose profile
-- RLS hides (or who has none) is still known; it reads nothing but their own rows.
create or replace function dashboard.signed_in_identity()
returns table (email text, display_name text, banned boolean, deleted boolean)
language plpgsql stable security definer
set search_path = ''
as $fn$
#variable_conflict use_column
declare
  who uuid := auth.uid();
  account jsonb;
  profile jsonb;
begin
  if who is null then
    return;
  end if;
  select pg_catalog.to_jsonb(u) into account from auth.users u where u.id operator(pg_catalog.=) who;
  if account is null then
    return;
  end if;
  if pg_catalog.to_regclass('public.profiles') is not null then
    begin
      execute 'select pg_catalog.to_jsonb(p) from public.profiles p where p.id operator(pg_catalog.=) $1'
        into profile using who;
    exception when undefined_column or insufficient_privilege then
      profile := null;
    end;
  end if;
  email := coalesce(nullif(pg_catalog.btrim(profile operator(pg_catalog.->>) 'email'), ''),
                    account operator(pg_catalog.->>) 'email');
  display_name := coalesce(nullif(pg_catalog.btrim(profile operator(pg_catalog.->>) 'display_name'), ''),
                           nullif(pg_catalog.btrim(profile operator(pg_catalog.->>) 'full_name'), ''),
                           nullif(pg_catalog.btrim(profile operator(pg_catalog.->>) 'username'), ''),
                           email);
  banned := coalesce((account operator(pg_catalog.->>) 'banned_until')::timestamptz
                     operator(pg_catalog.>) pg_catalog.now(), false);
  deleted := (account operator(pg_catalog.->>) 'deleted_at') is not null;
  return next;
end
$fn$;
comment on function dashboard.signed_in_identity() is
  'The signed-in person (auth.uid()): email and display name from profiles where it has them, else from auth.users, and whether the account is banned or deleted.';

-- The sign-in functions: the owner and the roles an operator grants them to (docs/production.md), nobody else.
revoke all on function dashboard.sign_in_account_state(text) from public, anon, authenticated, service_role;
revoke all on function dashboard.sign_in_hash_cost() from public, anon, authenticated, service_role;
-- Who am I: any signed-in person, about themselves.
revoke all on function dashboard.signed_in_identity() from public, anon, service_role;
grant execute on function dashboard.signed_in_identity() to authenticated;
