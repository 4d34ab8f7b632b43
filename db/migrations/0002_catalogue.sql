-- 0002 — the model catalogue: api_models exactly as the seed specifies, and what it refers to
-- (app_role, profiles, user_roles, has_role, api_providers).
--
-- Each is created only where the database has none, and recorded in dashboard.created_objects. Only what
-- was created here gets the rest of this file (comments, checks, the one-default index, the updated_at
-- trigger, RLS, policies, grants). A platform's existing tables are left exactly as they are: no column,
-- constraint, comment, grant, policy or trigger is changed or added, because any of those could refuse or
-- change a write the platform's own code makes today. The seed's indexes missing from a live api_models
-- are built afterwards, CONCURRENTLY (db/live.py), and the rules the database cannot enforce there are
-- reported instead (`python -m dashboard migrate`, the Overview).

-- ─── Touch trigger: updated_at moves on every update (on our own tables only) ────────────────
create or replace function dashboard.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $fn$
begin
  -- clock_timestamp(), not now(): two updates in one transaction still give two instants.
  new.updated_at := pg_catalog.clock_timestamp();
  return new;
end
$fn$;
comment on function dashboard.touch_updated_at() is 'Sets updated_at on every UPDATE (on tables the dashboard created).';
revoke all on function dashboard.touch_updated_at() from public;

-- ─── Create what is missing ───────────────────────────────────────────────────────────────────
do $do$
begin
  if not exists (select 1 from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
                 where n.nspname = 'public' and t.typname = 'app_role') then
    create type public.app_role as enum ('admin', 'moderator', 'user');
    insert into dashboard.created_objects (object) values ('public.app_role');
  end if;

  if pg_catalog.to_regclass('public.profiles') is null then
    create table public.profiles (
      id           uuid primary key references auth.users (id) on delete cascade,
      email        text,
      display_name text,
      created_at   timestamptz not null default now(),
      updated_at   timestamptz not null default now()
    );
    insert into dashboard.created_objects (object) values ('public.profiles');
  end if;

  if pg_catalog.to_regclass('public.user_roles') is null then
    create table public.user_roles (
      id         uuid primary key default gen_random_uuid(),
      user_id    uuid not null references auth.users (id) on delete cascade,
      role       public.app_role not null,
      created_at timestamptz not null default now(),
      unique (user_id, role)
    );
    insert into dashboard.created_objects (object) values ('public.user_roles');
  end if;

  -- Security definer, so that RLS on user_roles does not hide an admin's own row; an empty search_path
  -- and qualified names, operator included, so that nothing planted in public can answer for it.
  if not exists (select 1 from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'public' and p.proname = 'has_role') then
    create function public.has_role(_user_id uuid, _role public.app_role) returns boolean
    language sql stable security definer
    set search_path = ''
    as $fn$
      select exists (select 1 from public.user_roles r
                     where r.user_id operator(pg_catalog.=) _user_id and r.role operator(pg_catalog.=) _role)
    $fn$;
    insert into dashboard.created_objects (object) values ('public.has_role');
  end if;

  if pg_catalog.to_regclass('public.api_providers') is null then
    create table public.api_providers (
      id           uuid primary key default gen_random_uuid(),
      name         text not null unique,
      display_name text not null,
      base_url     text,
      auth_scheme  text,
      is_active    boolean not null default true,
      created_at   timestamptz not null default now(),
      updated_at   timestamptz not null default now()
    );
    insert into dashboard.created_objects (object) values ('public.api_providers');
  end if;

  -- The seed's contract, with the business rules the database enforces whoever writes.
  if pg_catalog.to_regclass('public.api_models') is null then
    create table public.api_models (
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
      priority       integer not null default 0,
      constraint api_models_modality_check check (modality in ('text', 'image', 'video', 'audio')),
      constraint api_models_json_objects_check check (
        jsonb_typeof(input_defaults) = 'object' and jsonb_typeof(capabilities) = 'object'
        and jsonb_typeof(pricing) = 'object'),
      constraint api_models_text_not_blank_check check (
        btrim(model_key) <> '' and btrim(display_name) <> '' and btrim(task) <> '')
    );
    -- One default per (modality, task). (The seed's five indexes are built by db/live.py, for any api_models.)
    create unique index api_models_one_default_per_slot on public.api_models (modality, task) where is_default;
    insert into dashboard.created_objects (object) values ('public.api_models');
  end if;
end
$do$;

-- ─── What we created: comments, triggers, RLS, policies, grants ───────────────────────────────
do $do$
declare
  ours text[] := array(select object from dashboard.created_objects);
begin
  if 'public.has_role' = any (ours) then
    comment on function public.has_role(uuid, public.app_role) is
      'True when the user holds the role. Security definer so that RLS on user_roles does not hide the answer.';
    revoke all on function public.has_role(uuid, public.app_role) from public;
    grant execute on function public.has_role(uuid, public.app_role) to authenticated, service_role;
  end if;

  if 'public.profiles' = any (ours) then
    comment on table public.profiles is 'One row per person: the public face of auth.users.';
    create or replace trigger dashboard_touch_updated_at before update on public.profiles
      for each row execute function dashboard.touch_updated_at();
    alter table public.profiles enable row level security;
    drop policy if exists "People read their own profile" on public.profiles;
    create policy "People read their own profile" on public.profiles
      for select to authenticated using (id = auth.uid());
    drop policy if exists "People update their own profile" on public.profiles;
    create policy "People update their own profile" on public.profiles
      for update to authenticated using (id = auth.uid());
    drop policy if exists "Admins read every profile" on public.profiles;
    create policy "Admins read every profile" on public.profiles
      for select to authenticated using (has_role(auth.uid(), 'admin'::app_role));
    grant select, update on public.profiles to authenticated;
    grant select, insert, update, delete on public.profiles to service_role;
  end if;

  if 'public.user_roles' = any (ours) then
    comment on table public.user_roles is 'Which roles each person holds; read by has_role().';
    alter table public.user_roles enable row level security;
    drop policy if exists "People read their own roles" on public.user_roles;
    create policy "People read their own roles" on public.user_roles
      for select to authenticated using (user_id = auth.uid());
    drop policy if exists "Admins manage roles" on public.user_roles;
    create policy "Admins manage roles" on public.user_roles
      for all to authenticated using (has_role(auth.uid(), 'admin'::app_role));
    grant select, insert, update, delete on public.user_roles to authenticated, service_role;
  end if;

  if 'public.api_providers' = any (ours) then
    comment on table public.api_providers is
      'The APIs that models are served from; an inactive provider takes its models out of routing.';
    create or replace trigger dashboard_touch_updated_at before update on public.api_providers
      for each row execute function dashboard.touch_updated_at();
    alter table public.api_providers enable row level security;
    drop policy if exists "Providers readable by signed-in users" on public.api_providers;
    create policy "Providers readable by signed-in users" on public.api_providers
      for select to authenticated using (true);
    drop policy if exists "Admins can manage providers" on public.api_providers;
    create policy "Admins can manage providers" on public.api_providers
      for all to authenticated using (has_role(auth.uid(), 'admin'::app_role));
    grant select, insert, update, delete on public.api_providers to authenticated, service_role;
  end if;

  if 'public.api_models' = any (ours) then
    comment on table public.api_models is 'Available models per API provider for job routing and model selection.';
    create or replace trigger dashboard_touch_updated_at before update on public.api_models
      for each row execute function dashboard.touch_updated_at();
    alter table public.api_models enable row level security;
    -- The seed's two policies, by name and text.
    drop policy if exists "Active models readable" on public.api_models;
    CREATE POLICY "Active models readable" ON api_models
    FOR SELECT TO authenticated
    USING (is_active = true);
    drop policy if exists "Admins can manage models" on public.api_models;
    CREATE POLICY "Admins can manage models" ON api_models
    FOR ALL TO authenticated
    USING (has_role(auth.uid(), 'admin'::app_role));
    grant select, insert, update, delete on public.api_models to authenticated, service_role;
  end if;

  if 'public.api_models' = any (ours) or 'public.api_providers' = any (ours) then
    grant usage on schema public to authenticated, service_role;
  end if;
end
$do$;
