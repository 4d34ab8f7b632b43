-- 0007 — sign-in attempts, to throttle password guessing per account and per client address, and the
-- account lookup a password check needs.
-- Every password sign-in is recorded here (successes too) by two functions the app calls around the
-- password check. Nobody else reads or writes the table: RLS is on with no policy, people's roles have no
-- grant on it, and the functions are executable only by the roles an operator grants them to. So the app's
-- login role needs EXECUTE on these functions and nothing in the auth schema (on Supabase it could not be
-- given anything there: postgres holds no grant option on it).

create table if not exists dashboard.sign_in_attempts (
  id       bigint      generated always as identity primary key,
  at       timestamptz not null default clock_timestamp(),
  account  bytea       not null,  -- sha256 of the normalised email; the text typed is never kept
  address  inet,                  -- the client's address (IPv6 by its /64); null when unknown
  outcome  text        not null check (outcome in ('failure', 'success', 'throttled'))
);
comment on table dashboard.sign_in_attempts is
  'Password sign-in attempts, for throttling. Written only by begin_sign_in_attempt() and sign_in_attempt_succeeded(); kept a day.';
comment on column dashboard.sign_in_attempts.account is
  'sha256 of the trimmed, lower-cased email: a mistyped email (or a password typed in the email field) is not kept as text.';
comment on column dashboard.sign_in_attempts.outcome is
  'failure until the password is proven right (so a check that never finishes still counts); throttled: the password was not checked.';

-- The throttle's three questions: an account's recent attempts (failures and its last success), an address'
-- recent failures, and what is old enough to prune.
create index if not exists sign_in_attempts_account_idx on dashboard.sign_in_attempts (account, at);
create index if not exists sign_in_attempts_address_idx on dashboard.sign_in_attempts (address, at)
  where outcome = 'failure' and address is not null;
create index if not exists sign_in_attempts_at_idx on dashboard.sign_in_attempts (at);

alter table dashboard.sign_in_attempts enable row level security;
revoke all on dashboard.sign_in_attempts from public, anon, authenticated, service_role;

-- ─── Pruning ─────────────────────────────────────────────────────────────────────────────────
-- The throttle looks back minutes; a day is kept for anyone investigating. Called now and then by
-- begin_sign_in_attempt(), or from cron. _keep must be longer than the app's throttle window.
create or replace function dashboard.prune_sign_in_attempts(_keep interval default interval '1 day')
returns bigint
language plpgsql security definer
set search_path = dashboard, pg_temp
as $fn$
declare
  pruned bigint;
begin
  delete from dashboard.sign_in_attempts where at < clock_timestamp() - _keep;
  get diagnostics pruned = row_count;
  return pruned;
end
$fn$;
comment on function dashboard.prune_sign_in_attempts(interval) is
  'Deletes sign-in attempts older than _keep (a day by default); returns how many.';

-- ─── One attempt ─────────────────────────────────────────────────────────────────────────────
-- Decides whether an attempt may check a password, and records it, in one call. Sliding window: an
-- account waits while it has _account_limit failures within _window since its last success, an address
-- while it has _address_limit failures within _window (a success does not clear those); each is free
-- again when the oldest of those failures leaves the window. Throttled attempts are recorded but do not
-- count, so hammering a locked account does not keep it locked.
-- Returns the attempt's id and, when throttled, how long until it would be allowed (else null).
-- The attempt is recorded as a failure before the password is checked: parallel attempts each see the
-- ones before them, and the caller turns it into a success with sign_in_attempt_succeeded().
create or replace function dashboard.begin_sign_in_attempt(
  _account bytea, _address inet, _account_limit integer, _address_limit integer, _window interval
)
returns table (attempt_id bigint, retry_after interval)
language plpgsql security definer
set search_path = dashboard, pg_temp
as $fn$
declare
  started      timestamptz;
  last_success timestamptz;
  account_free timestamptz;
  address_free timestamptz;
begin
  if _account is null or _account_limit is null or _account_limit < 1 or _address_limit is null
     or _address_limit < 1 or _window is null or _window <= interval '0' then
    raise exception 'begin_sign_in_attempt needs an account, limits of at least 1 and a positive window';
  end if;
  -- One attempt at a time per account, then per address (always in that order, so two attempts never
  -- wait on each other in a cycle): a burst of parallel guesses is counted one by one and cannot slip
  -- past a limit. The locks last until the caller commits, a few milliseconds later.
  perform pg_advisory_xact_lock(hashtext('dashboard sign-in account'), hashtext(encode(_account, 'hex')));
  if _address is not null then
    perform pg_advisory_xact_lock(hashtext('dashboard sign-in address'), hashtext(_address::text));
  end if;
  started := clock_timestamp();

  select max(a.at) into last_success
  from dashboard.sign_in_attempts a
  where a.account = _account and a.outcome = 'success' and a.at > started - _window;

  -- The _account_limit-th newest failure since then: while there is one, the account waits until it
  -- leaves the window.
  select a.at + _window into account_free
  from dashboard.sign_in_attempts a
  where a.account = _account and a.outcome = 'failure' and a.at > greatest(started - _window, last_success)
  order by a.at desc
  offset _account_limit - 1 limit 1;

  if _address is not null then
    select a.at + _window into address_free
    from dashboard.sign_in_attempts a
    where a.address = _address and a.outcome = 'failure' and a.address is not null and a.at > started - _window
    order by a.at desc
    offset _address_limit - 1 limit 1;
  end if;

  retry_after := greatest(account_free, address_free) - started;
  insert into dashboard.sign_in_attempts (at, account, address, outcome)
  values (started, _account, _address, case when retry_after is null then 'failure' else 'throttled' end)
  returning id into attempt_id;

  if random() < 0.01 then  -- now and then, so the table stays a day long without a scheduler
    perform dashboard.prune_sign_in_attempts();
  end if;
  return next;
end
$fn$;
comment on function dashboard.begin_sign_in_attempt(bytea, inet, integer, integer, interval) is
  'Throttle check and record of one sign-in attempt: returns its id, and how long to wait when throttled.';

create or replace function dashboard.sign_in_attempt_succeeded(_attempt_id bigint) returns void
language sql security definer
set search_path = dashboard, pg_temp
as $fn$
  update dashboard.sign_in_attempts set outcome = 'success' where id = _attempt_id and outcome = 'failure'
$fn$;
comment on function dashboard.sign_in_attempt_succeeded(bigint) is
  'Marks an attempt begun with begin_sign_in_attempt() as a success: the password was right.';

-- ─── The account a password is checked against ──────────────────────────────────────────────
-- Security definer, so that the app's login role needs no right on auth.users: it gets the one row an
-- email names, never the table.
create or replace function dashboard.sign_in_account(_email text)
returns table (id uuid, encrypted_password text)
language sql stable security definer
set search_path = dashboard, pg_temp
as $fn$
  select u.id, u.encrypted_password::text from auth.users u where lower(u.email) = _email
$fn$;
comment on function dashboard.sign_in_account(text) is
  'The account (id and bcrypt hash) of a lower-cased email, for the password check before anyone is signed in.';

-- Only the app's login role calls these (a superuser or the owner can already; a dedicated login role is
-- granted EXECUTE by the operator, see docs/production.md). People's roles never can.
revoke all on function dashboard.prune_sign_in_attempts(interval) from public, anon, authenticated, service_role;
revoke all on function dashboard.begin_sign_in_attempt(bytea, inet, integer, integer, interval)
  from public, anon, authenticated, service_role;
revoke all on function dashboard.sign_in_attempt_succeeded(bigint) from public, anon, authenticated, service_role;
revoke all on function dashboard.sign_in_account(text) from public, anon, authenticated, service_role;
