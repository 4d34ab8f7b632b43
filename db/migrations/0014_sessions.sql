-- 0014 — sessions that survive a reload, a typed URL and a new tab: a random token in an HttpOnly cookie, of
-- which only the sha256 is kept here, with an idle and an absolute expiry, the device and address it came from.
--
-- The browser gets its cookie from a small route of the web server (dashboard/ui/auth_routes.py), not from the
-- Streamlit script, which cannot set HttpOnly cookies: after a sign-in the script starts a session here and
-- makes a single-use handoff code (kept hashed, 60 seconds, bound to a random value in a cookie of the same
-- browser); the route trades the code for the session's token and sets the cookie.
--
-- Like 0007's and 0011's sign-in functions, nobody but the owner and the roles an operator grants them to may
-- call these functions, and nobody may read the tables: RLS is on with no policy and no role has a grant. The app
-- checks that the person asking to list or end other people's sessions is an admin (as that person, under RLS)
-- before it calls them. Every function has an empty search_path and names everything with its schema.

create table if not exists dashboard.sessions (
  id               uuid        primary key default gen_random_uuid(),
  user_id          uuid        not null,  -- auth.users.id; no foreign key: the platform's table is not ours
  token_hash       bytea       unique,    -- sha256 of the cookie's token; null until the handoff
  created_at       timestamptz not null default now(),
  last_seen_at     timestamptz not null default now(),  -- touched at most once a minute
  expires_at       timestamptz not null,  -- the absolute lifetime, whatever the activity
  ended_at         timestamptz,
  ended_reason     text check (ended_reason in ('signed_out', 'ended_by_admin', 'password_changed', 'banned',
                                                'deleted', 'role_revoked', 'idle', 'expired')),
  user_agent       text check (length(user_agent) <= 300),
  address          inet,
  password_stamp   bytea       not null,  -- sha256 of the account's password hash when the session started
  started_as_admin boolean     not null default false
);
comment on table dashboard.sessions is
  'Dashboard sign-in sessions: only the sha256 of each cookie token is kept. Written and read only through the dashboard.session_* functions.';
comment on column dashboard.sessions.password_stamp is
  'sha256 of auth.users.encrypted_password at the start: a session whose account has another password hash now has ended.';
comment on column dashboard.sessions.started_as_admin is
  'Whether the person was an admin at the start: when the role is revoked, their sessions end.';

create index if not exists sessions_user_live_idx on dashboard.sessions (user_id) where ended_at is null;
create index if not exists sessions_expires_idx on dashboard.sessions (expires_at);

alter table dashboard.sessions enable row level security;
revoke all on dashboard.sessions from public, anon, authenticated, service_role;

create table if not exists dashboard.session_handoffs (
  code_hash    bytea       primary key,  -- sha256 of the single-use code in the handoff URL
  session_id   uuid        not null references dashboard.sessions (id) on delete cascade,
  browser_hash bytea       not null,     -- sha256 of the browser cookie of the tab that signed in
  expires_at   timestamptz not null,
  used_at      timestamptz
);
comment on table dashboard.session_handoffs is
  'Single-use codes that hand a session started by the Streamlit script to the browser cookie, kept hashed, a minute long.';
create index if not exists session_handoffs_session_idx on dashboard.session_handoffs (session_id);
alter table dashboard.session_handoffs enable row level security;
revoke all on dashboard.session_handoffs from public, anon, authenticated, service_role;

-- ─── Pruning ─────────────────────────────────────────────────────────────────────────────────
-- Sessions past their absolute expiry, and ended ones, are kept a week for anyone looking; handoffs a day.
create or replace function dashboard.prune_sessions(_keep interval default interval '7 days')
returns bigint
language plpgsql security definer
set search_path = ''
as $fn$
declare
  pruned bigint;
begin
  delete from dashboard.session_handoffs h where h.expires_at < pg_catalog.now() - interval '1 day';
  delete from dashboard.sessions s
  where s.expires_at < pg_catalog.now() - _keep or s.ended_at < pg_catalog.now() - _keep;
  get diagnostics pruned = row_count;
  return pruned;
end
$fn$;
comment on function dashboard.prune_sessions(interval) is
  'Deletes sessions expired or ended more than _keep ago (a week by default) and day-old handoff codes; returns how many sessions.';

-- ─── Starting one ────────────────────────────────────────────────────────────────────────────
-- After a sign-in the app checked. Null when the account is gone, deleted or banned.
create or replace function dashboard.session_start(
  _user_id uuid, _user_agent text, _address inet, _lifetime interval
)
returns uuid
language plpgsql security definer
set search_path = ''
as $fn$
declare
  account jsonb;
  started uuid;
begin
  if _user_id is null or _lifetime is null or _lifetime <= interval '0' then
    raise exception 'session_start needs a user and a positive lifetime';
  end if;
  select pg_catalog.to_jsonb(u) into account from auth.users u where u.id = _user_id;
  if account is null or (account ->> 'deleted_at') is not null
     or coalesce((account ->> 'banned_until')::timestamptz > pg_catalog.now(), false) then
    return null;
  end if;
  insert into dashboard.sessions (user_id, expires_at, user_agent, address, password_stamp, started_as_admin)
  values (_user_id, pg_catalog.now() + _lifetime, pg_catalog.left(_user_agent, 300), _address,
          pg_catalog.sha256(pg_catalog.convert_to(coalesce(account ->> 'encrypted_password', ''), 'UTF8')),
          coalesce(public.has_role(_user_id, 'admin'::public.app_role), false))
  returning id into started;
  if pg_catalog.random() < 0.01 then  -- now and then, so the table stays short without a scheduler
    perform dashboard.prune_sessions();
  end if;
  return started;
end
$fn$;
comment on function dashboard.session_start(uuid, text, inet, interval) is
  'Starts a session for an account the app signed in (null when it is gone, deleted or banned); returns its id.';

-- ─── Handing it to the browser ───────────────────────────────────────────────────────────────
create or replace function dashboard.session_handoff_create(
  _session_id uuid, _code_hash bytea, _browser_hash bytea, _ttl interval
)
returns boolean
language plpgsql security definer
set search_path = ''
as $fn$
begin
  if _code_hash is null or _browser_hash is null or _ttl is null or _ttl <= interval '0' then
    raise exception 'session_handoff_create needs a code, a browser and a positive lifetime';
  end if;
  insert into dashboard.session_handoffs (code_hash, session_id, browser_hash, expires_at)
  select _code_hash, s.id, _browser_hash, pg_catalog.now() + _ttl
  from dashboard.sessions s
  where s.id = _session_id and s.ended_at is null and s.token_hash is null and s.expires_at > pg_catalog.now();
  return found;
end
$fn$;
comment on function dashboard.session_handoff_create(uuid, bytea, bytea, interval) is
  'A single-use code (its sha256) for a live session that has no token yet, bound to the browser that signed in.';

-- The code is used up by the first try, right or wrong browser. The session gets the token only when the code
-- is unused, unexpired, from the same browser, and the session is live and still without a token.
create or replace function dashboard.session_handoff_redeem(_code_hash bytea, _browser_hash bytea, _token_hash bytea)
returns table (session_id uuid, expires_at timestamptz)
language plpgsql security definer
set search_path = ''
as $fn$
#variable_conflict use_column
declare
  handoff record;
begin
  if _code_hash is null or _browser_hash is null or _token_hash is null then
    return;
  end if;
  update dashboard.session_handoffs h set used_at = pg_catalog.now()
  where h.code_hash = _code_hash and h.used_at is null
  returning h.session_id, h.browser_hash, h.expires_at into handoff;
  if handoff is null or handoff.expires_at <= pg_catalog.now() or handoff.browser_hash <> _browser_hash then
    return;
  end if;
  return query
    update dashboard.sessions s set token_hash = _token_hash, last_seen_at = pg_catalog.now()
    where s.id = handoff.session_id and s.ended_at is null and s.token_hash is null
      and s.expires_at > pg_catalog.now()
    returning s.id, s.expires_at;
end
$fn$;
comment on function dashboard.session_handoff_redeem(bytea, bytea, bytea) is
  'Trades a handoff code (used up by any try) from the browser it was made for for the session: sets the token hash.';

-- ─── Checking one, on every run ──────────────────────────────────────────────────────────────
-- By the cookie's token hash, or by the id the app holds for a session it started in this tab. No row: no
-- such session. status: 'active', or why it ended: ended_reason when it had ended already; 'expired' past its
-- absolute expiry; 'idle' after _idle without a touch; 'deleted', 'banned' or 'password_changed' from the
-- account as it is now. These three end every live session of the account at once. An active session is
-- touched at most once a minute.
create or replace function dashboard.session_check(_token_hash bytea, _session_id uuid, _idle interval)
returns table (session_id uuid, user_id uuid, status text, started_as_admin boolean)
language plpgsql security definer
set search_path = ''
as $fn$
#variable_conflict use_column
declare
  found_session dashboard.sessions;
  account jsonb;
  ending text;
begin
  if _token_hash is not null then
    select * into found_session from dashboard.sessions s where s.token_hash = _token_hash;
  elsif _session_id is not null then
    select * into found_session from dashboard.sessions s where s.id = _session_id;
  end if;
  if found_session.id is null then
    return;
  end if;
  session_id := found_session.id;
  user_id := found_session.user_id;
  started_as_admin := found_session.started_as_admin;
  if found_session.ended_at is not null then
    status := found_session.ended_reason;
    return next;
    return;
  end if;

  select pg_catalog.to_jsonb(u) into account from auth.users u where u.id = found_session.user_id;
  if account is null or (account ->> 'deleted_at') is not null then
    ending := 'deleted';
  elsif coalesce((account ->> 'banned_until')::timestamptz > pg_catalog.now(), false) then
    ending := 'banned';
  elsif pg_catalog.sha256(pg_catalog.convert_to(coalesce(account ->> 'encrypted_password', ''), 'UTF8'))
        <> found_session.password_stamp then
    ending := 'password_changed';
  end if;
  if ending is not null then
    -- The account changed: every live session of it ends, not only this one.
    update dashboard.sessions s set ended_at = pg_catalog.now(), ended_reason = ending
    where s.user_id = found_session.user_id and s.ended_at is null
      and (ending <> 'password_changed' or s.password_stamp = found_session.password_stamp);
    status := ending;
  elsif found_session.expires_at <= pg_catalog.now() then
    status := 'expired';
  elsif _idle is not null and found_session.last_seen_at <= pg_catalog.now() - _idle then
    status := 'idle';
  else
    update dashboard.sessions s set last_seen_at = pg_catalog.now()
    where s.id = found_session.id and s.last_seen_at < pg_catalog.now() - interval '1 minute';
    status := 'active';
    return next;
    return;
  end if;
  if ending is null then
    update dashboard.sessions s set ended_at = pg_catalog.now(), ended_reason = status
    where s.id = found_session.id and s.ended_at is null;
  end if;
  return next;
end
$fn$;
comment on function dashboard.session_check(bytea, uuid, interval) is
  'Whether a session (by token hash, else by id) is active, touching it at most once a minute, or why it ended; ends it (or all of its account''s) when it just did.';

-- ─── Ending them ─────────────────────────────────────────────────────────────────────────────
create or replace function dashboard.session_end(_session_id uuid, _reason text)
returns boolean
language plpgsql security definer
set search_path = ''
as $fn$
begin
  update dashboard.sessions s set ended_at = pg_catalog.now(), ended_reason = _reason
  where s.id = _session_id and s.ended_at is null;
  return found;
end
$fn$;
comment on function dashboard.session_end(uuid, text) is 'Ends one session (signed out, or ended by an admin).';

create or replace function dashboard.session_end_user(_user_id uuid, _reason text)
returns integer
language plpgsql security definer
set search_path = ''
as $fn$
declare
  ended integer;
begin
  update dashboard.sessions s set ended_at = pg_catalog.now(), ended_reason = _reason
  where s.user_id = _user_id and s.ended_at is null;
  get diagnostics ended = row_count;
  return ended;
end
$fn$;
comment on function dashboard.session_end_user(uuid, text) is
  'Ends every live session of an account (a new password, a revoked role, an admin''s act); returns how many.';

-- ─── Listing them, for admins (the app checks the caller) ────────────────────────────────────
create or replace function dashboard.session_list(_include_ended boolean)
returns table (
  id uuid, user_id uuid, email text, user_agent text, address inet, created_at timestamptz,
  last_seen_at timestamptz, expires_at timestamptz, ended_at timestamptz, ended_reason text
)
language sql stable security definer
set search_path = ''
as $fn$
  select s.id, s.user_id, u.email::text, s.user_agent, s.address, s.created_at, s.last_seen_at, s.expires_at,
         s.ended_at, s.ended_reason
  from dashboard.sessions s
  left join auth.users u on u.id = s.user_id
  where _include_ended or (s.ended_at is null and s.expires_at > pg_catalog.now())
  order by s.last_seen_at desc
  limit 1000
$fn$;
comment on function dashboard.session_list(boolean) is
  'Sessions newest activity first (live ones, or all with _include_ended), with the account''s email, for admins.';

revoke all on function dashboard.prune_sessions(interval) from public, anon, authenticated, service_role;
revoke all on function dashboard.session_start(uuid, text, inet, interval) from public, anon, authenticated, service_role;
revoke all on function dashboard.session_handoff_create(uuid, bytea, bytea, interval)
  from public, anon, authenticated, service_role;
revoke all on function dashboard.session_handoff_redeem(bytea, bytea, bytea)
  from public, anon, authenticated, service_role;
revoke all on function dashboard.session_check(bytea, uuid, interval) from public, anon, authenticated, service_role;
revoke all on function dashboard.session_end(uuid, text) from public, anon, authenticated, service_role;
revoke all on function dashboard.session_end_user(uuid, text) from public, anon, authenticated, service_role;
revoke all on function dashboard.session_list(boolean) from public, anon, authenticated, service_role;
