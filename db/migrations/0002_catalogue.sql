-- 0002 — the model catalogue: api_models exactly as the seed specifies, and what it refers to
-- (app_role, profiles, user_roles, has_role, api_providers). Everything is created only where missing;
-- existing tables and columns are never dropped or altered.

-- ─── Helper: add a CHECK constraint without rejecting existing rows ──────────────────────────
-- The constraint is added NOT VALID (new writes are checked at once) and then validated; if rows
-- already in the table break it, it stays NOT VALID and a notice says so instead of failing the
-- migration. Only ever called below with constant arguments written in this file.
create or replace function dashboard.add_check_if_missing(_table regclass, _name text, _expr text)
returns void
language plpgsql
set search_path = public
as $fn$
begin
  if exists (select 1 from pg_constraint where conrelid = _table and conname = _name) then
    return;
  end if;
  execute format('alter table %s add constraint %I check (%s) not valid', _table, _name, _expr);
  begin
    execute format('alter table %s validate constraint %I', _table, _name);
  exception when check_violation then
    raise notice 'constraint % on % left NOT VALID: existing rows break it', _name, _table;
  end;
end
$fn$;
comment on function dashboard.add_check_if_missing(regclass, text, text) is
  'Migration helper: adds a CHECK constraint if missing, validating it only when existing rows allow.';

-- ─── Touch trigger: updated_at moves on every update ─────────────────────────────────────────
create or replace function dashboard.touch_updated_at() returns trigger
language plpgsql
as $fn$
begin
  -- clock_timestamp(), not now(): two updates in one transaction still give two instants.
  new.updated_at := clock_timestamp();
  return new;
end
$fn$;
comment on function dashboard.touch_updated_at() is 'Sets updated_at on every UPDATE.';

-- ─── Roles ────────────────────────────────────────────────────────────────────────────────────
do $do$
begin
  if not exists (select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace
                 where n.nspname = 'public' and t.typname = 'app_role') then
    create type public.app_role as enum ('admin', 'moderator', 'user');
  end if;
end
$do$;

create table if not exists public.profiles (
  id           uuid primary key references auth.users (id) on delete cascade,
  email        text,
  display_name text,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);
comment on table public.profiles is 'One row per person: the public face of auth.users.';

create table if not exists public.user_roles (
  id         uuid primary key default gen_random_uuid(),
  user_id    uuid not null references auth.users (id) on delete cascade,
  role       public.app_role not null,
  created_at timestamptz not null default now(),
  unique (user_id, role)
);
comment on table public.user_roles is 'Which roles each person holds; read by has_role().';

-- security definer + fixed search_path: it must read user_roles with the owner's rights, or RLS on
-- user_roles would hide an admin's own row and the answer would be false.
do $do$
begin
  if not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'public' and p.proname = 'has_role') then
    create function public.has_role(_user_id uuid, _role public.app_role) returns boolean
    language sql stable security definer
    set search_path = public
    as $fn$
      select exists (select 1 from public.user_roles where user_id = _user_id and role = _role)
    $fn$;
    comment on function public.has_role(uuid, public.app_role) is
      'True when the user holds the role. Security definer so that RLS on user_roles does not hide the answer.';
  end if;
end
$do$;

-- ─── Providers ────────────────────────────────────────────────────────────────────────────────
create table if not exists public.api_providers (
  id           uuid primary key default gen_random_uuid(),
  name         text not null unique,
  display_name text not null,
  base_url     text,
  auth_scheme  text,
  is_active    boolean not null default true,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);
comment on table public.api_providers is 'The APIs that models are served from; an inactive provider takes its models out of routing.';

-- ─── Models: the seed's contract ──────────────────────────────────────────────────────────────
create table if not exists public.api_models (
  id             uuid primary key default gen_random_uuid(),
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  created_by     uuid references public.profiles (id) on delete set null,
  provider_id    uuid not null references public.api_providers (id),
  model_key      text not null,
  version        text,
  display_name   text not null,
  modality       text not null,
  task           text not null,
  model_family   text,
  endpoint_path  text,
  input_defaults jsonb not null default '{}'::jsonb,
  capabilities   jsonb not null default '{}'::jsonb,
  pricing        jsonb not null default '{}'::jsonb,
  output_format  text,
  is_active      boolean not null default true,
  is_default     boolean not null default false,
  priority       integer not null default 0
);
comment on table public.api_models is 'Available models per API provider for job routing and model selection.';

-- Business rules the database enforces, whoever writes.
select dashboard.add_check_if_missing('public.api_models', 'api_models_modality_check',
  $$modality in ('text', 'image', 'video', 'audio')$$);
select dashboard.add_check_if_missing('public.api_models', 'api_models_json_objects_check',
  $$jsonb_typeof(input_defaults) = 'object' and jsonb_typeof(capabilities) = 'object'
    and jsonb_typeof(pricing) = 'object'$$);
select dashboard.add_check_if_missing('public.api_models', 'api_models_text_not_blank_check',
  $$btrim(model_key) <> '' and btrim(display_name) <> '' and btrim(task) <> ''$$);

-- The seed's five recommended indexes, by name.
create index if not exists idx_api_models_active ON api_models(is_active, priority);
create index if not exists idx_api_models_modality_task ON api_models(modality, task, is_active);
create index if not exists idx_api_models_provider ON api_models(provider_id, is_active);
create index if not exists idx_api_models_default ON api_models(is_default, modality, task) WHERE is_default = true;
create index if not exists idx_api_models_priority ON api_models(priority, is_active);

-- One default per (modality, task). A live table that already breaks the rule stops the migration
-- with the slots to fix rather than having a default silently changed.
do $do$
declare
  _dupes text;
begin
  if to_regclass('public.api_models_one_default_per_slot') is not null then
    return;
  end if;
  select string_agg(modality || '/' || task, ', ') into _dupes
  from (select modality, task from public.api_models where is_default
        group by modality, task having count(*) > 1) d;
  if _dupes is not null then
    raise exception 'api_models has more than one default for: %', _dupes
      using hint = 'Leave one default per modality and task, then run migrate again.';
  end if;
  create unique index api_models_one_default_per_slot on public.api_models (modality, task) where is_default;
end
$do$;

-- ─── updated_at triggers ──────────────────────────────────────────────────────────────────────
create or replace trigger dashboard_touch_updated_at before update on public.api_models
  for each row execute function dashboard.touch_updated_at();
create or replace trigger dashboard_touch_updated_at before update on public.api_providers
  for each row execute function dashboard.touch_updated_at();
create or replace trigger dashboard_touch_updated_at before update on public.profiles
  for each row execute function dashboard.touch_updated_at();

-- ─── Row-level security ───────────────────────────────────────────────────────────────────────
alter table public.api_models enable row level security;
alter table public.api_providers enable row level security;
alter table public.profiles enable row level security;
alter table public.user_roles enable row level security;

-- The seed's two policies, by name and text.
do $do$
begin
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'api_models'
                 and policyname = 'Active models readable') then
    CREATE POLICY "Active models readable" ON api_models
    FOR SELECT TO authenticated
    USING (is_active = true);
  end if;
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'api_models'
                 and policyname = 'Admins can manage models') then
    CREATE POLICY "Admins can manage models" ON api_models
    FOR ALL TO authenticated
    USING (has_role(auth.uid(), 'admin'::app_role));
  end if;
end
$do$;

-- Our policies for the referenced tables, only where a table has no policies yet: adding permissive
-- policies to a table whose owner already wrote some would widen what they allow.
do $do$
begin
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'api_providers') then
    create policy "Providers readable by signed-in users" on public.api_providers
      for select to authenticated using (true);
    create policy "Admins can manage providers" on public.api_providers
      for all to authenticated using (has_role(auth.uid(), 'admin'::app_role));
  end if;
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'profiles') then
    create policy "People read their own profile" on public.profiles
      for select to authenticated using (id = auth.uid());
    create policy "People update their own profile" on public.profiles
      for update to authenticated using (id = auth.uid());
    create policy "Admins read every profile" on public.profiles
      for select to authenticated using (has_role(auth.uid(), 'admin'::app_role));
  end if;
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'user_roles') then
    create policy "People read their own roles" on public.user_roles
      for select to authenticated using (user_id = auth.uid());
    create policy "Admins manage roles" on public.user_roles
      for all to authenticated using (has_role(auth.uid(), 'admin'::app_role));
  end if;
end
$do$;

-- ─── Privileges: RLS decides which rows; these decide which verbs reach RLS at all ────────────
grant usage on schema public to anon, authenticated;
grant select, insert, update, delete on public.api_models, public.api_providers to authenticated;
grant select on public.api_models, public.api_providers to anon;
grant select, update on public.profiles to authenticated;
grant select, insert, update, delete on public.user_roles to authenticated;
grant execute on function public.has_role(uuid, public.app_role) to anon, authenticated, service_role;
grant usage on schema public to service_role;
grant select, insert, update, delete on public.api_models, public.api_providers, public.profiles,
  public.user_roles to service_role;
