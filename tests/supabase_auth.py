"""Supabase Auth's tables as the dashboard meets them on a live project, written here from their columns
(what GoTrue reads and writes), and accounts written into them the way GoTrue writes them.

Two ways to get the shape: build_supabase_auth() on an empty database before migrating (the auth schema,
auth.users with Supabase's columns and no id default, auth.uid(), auth.identities, auth.mfa_factors, and
Supabase's quickstart profiles with its new-user trigger); or add_supabase_auth() on a database already
migrated with our emulated auth.users, which adds Supabase's columns and tables to it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import bcrypt
import pyotp
import sqlalchemy as sa
from sqlalchemy.engine import Engine

ROLES = """
do $do$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin noinherit; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$do$;
"""

USERS = """
create schema auth;
grant usage on schema auth to anon, authenticated, service_role;
create table auth.users (
  instance_id                uuid,
  id                         uuid not null primary key,
  aud                        varchar(255),
  role                       varchar(255),
  email                      varchar(255),
  encrypted_password         varchar(255),
  email_confirmed_at         timestamptz,
  invited_at                 timestamptz,
  confirmation_token         varchar(255),
  confirmation_sent_at       timestamptz,
  recovery_token             varchar(255),
  recovery_sent_at           timestamptz,
  email_change_token_new     varchar(255),
  email_change               varchar(255),
  email_change_sent_at       timestamptz,
  last_sign_in_at            timestamptz,
  raw_app_meta_data          jsonb,
  raw_user_meta_data         jsonb,
  is_super_admin             boolean,
  created_at                 timestamptz,
  updated_at                 timestamptz,
  phone                      text unique default null,
  phone_confirmed_at         timestamptz,
  phone_change               text default '',
  phone_change_token         varchar(255) default '',
  phone_change_sent_at       timestamptz,
  confirmed_at               timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current varchar(255) default '',
  email_change_confirm_status smallint default 0,
  banned_until               timestamptz,
  reauthentication_token     varchar(255) default '',
  reauthentication_sent_at   timestamptz,
  is_sso_user                boolean not null default false,
  deleted_at                 timestamptz,
  is_anonymous               boolean not null default false
);
create unique index users_email_partial_key on auth.users (email) where is_sso_user = false;

create function auth.uid() returns uuid language sql stable as $fn$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$fn$;
"""

# The columns Supabase has and our emulated auth.users lacks; id loses its default, as on Supabase.
ADD_USER_COLUMNS = """
alter table auth.users
  alter column id drop default,
  add column if not exists instance_id uuid,
  add column if not exists aud varchar(255),
  add column if not exists role varchar(255),
  add column if not exists email_confirmed_at timestamptz,
  add column if not exists confirmation_token varchar(255),
  add column if not exists recovery_token varchar(255),
  add column if not exists email_change_token_new varchar(255),
  add column if not exists email_change varchar(255),
  add column if not exists raw_app_meta_data jsonb,
  add column if not exists phone_confirmed_at timestamptz,
  add column if not exists confirmed_at timestamptz
    generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  add column if not exists banned_until timestamptz,
  add column if not exists is_sso_user boolean not null default false,
  add column if not exists deleted_at timestamptz,
  add column if not exists is_anonymous boolean not null default false;
"""

FACTORS_AND_IDENTITIES = """
create type auth.factor_type as enum ('totp', 'webauthn', 'phone');
create type auth.factor_status as enum ('unverified', 'verified');
create table auth.mfa_factors (
  id            uuid not null primary key,
  user_id       uuid not null references auth.users (id) on delete cascade,
  friendly_name text,
  factor_type   auth.factor_type not null,
  status        auth.factor_status not null,
  created_at    timestamptz not null,
  updated_at    timestamptz not null,
  secret        text
);
create table auth.identities (
  provider_id     text not null,
  user_id         uuid not null references auth.users (id) on delete cascade,
  identity_data   jsonb not null,
  provider        text not null,
  last_sign_in_at timestamptz,
  created_at      timestamptz,
  updated_at      timestamptz,
  email           text generated always as (lower(identity_data ->> 'email')) stored,
  id              uuid not null default gen_random_uuid() primary key,
  unique (provider_id, provider)
);
"""

# Supabase's quickstart profiles: no email, no display_name; a trigger makes a row for every new account.
QUICKSTART_PROFILES = """
create table public.profiles (
  id         uuid not null primary key references auth.users (id) on delete cascade,
  updated_at timestamptz,
  username   text unique,
  full_name  text,
  avatar_url text,
  website    text,
  constraint username_length check (char_length(username) >= 3)
);
alter table public.profiles enable row level security;
create policy "Public profiles are viewable by everyone." on public.profiles for select using (true);
create policy "Users can insert their own profile." on public.profiles for insert with check (auth.uid() = id);
create policy "Users can update own profile." on public.profiles for update using (auth.uid() = id);

create function public.handle_new_user() returns trigger
language plpgsql security definer set search_path = ''
as $fn$
begin
  insert into public.profiles (id, full_name, avatar_url)
  values (new.id, new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'avatar_url');
  return new;
end
$fn$;
create trigger on_auth_user_created after insert on auth.users for each row execute procedure public.handle_new_user();
"""


def _run(engine: Engine, sql: str) -> None:
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute(sql)
        raw.commit()
    finally:
        raw.close()


def build_supabase_auth(engine: Engine) -> None:
    """On an empty database, before migrating: Supabase's auth tables and quickstart profiles."""
    _run(engine, ROLES + USERS + FACTORS_AND_IDENTITIES + QUICKSTART_PROFILES)


def add_supabase_auth(engine: Engine) -> None:
    """On a database migrated with our emulated auth.users: Supabase's columns, factors and identities."""
    _run(engine, ADD_USER_COLUMNS + FACTORS_AND_IDENTITIES)


def gotrue_user(
    engine: Engine,
    email: str,
    password: str | None = "correct horse battery",
    *,
    confirmed: bool = True,
    banned_until: datetime | str | None = None,
    deleted: bool = False,
    sso: bool = False,
    cost: int = 10,
    full_name: str | None = None,
    role: str | None = None,
    updated_at: datetime | str | None = None,
) -> UUID:
    """An account as Supabase Auth (GoTrue) writes one: id made by the service, a cost-10 $2a$ hash."""
    user_id = uuid.uuid4()
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost, prefix=b"2a")).decode() if password else ""
    meta: dict[str, Any] = {"full_name": full_name} if full_name else {}
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                                    raw_app_meta_data, raw_user_meta_data, created_at, updated_at, banned_until,
                                    deleted_at, is_sso_user, confirmation_token, recovery_token,
                                    email_change_token_new, email_change)
            values ('00000000-0000-0000-0000-000000000000', :id, 'authenticated', 'authenticated', :email, :hash,
                    case when :confirmed then now() end, cast(:app as jsonb), cast(:meta as jsonb), now(),
                    coalesce(cast(:updated as timestamptz), now()), cast(:banned as timestamptz),
                    case when :deleted then now() end, :sso, '', '', '', '')
            """),
            {
                "id": user_id,
                "email": email,
                "hash": hashed,
                "confirmed": confirmed,
                "banned": banned_until,
                "deleted": deleted,
                "sso": sso,
                "updated": updated_at,
                "meta": _json(meta),
                "app": _json({"provider": "sso" if sso else "email", "providers": ["sso" if sso else "email"]}),
            },
        )
        if role:
            conn.execute(
                sa.text("insert into public.user_roles (user_id, role) values (:u, cast(:r as app_role))"),
                {"u": user_id, "r": role},
            )
    return user_id


def add_factor(
    engine: Engine,
    user_id: UUID,
    *,
    secret: str | None | object = ...,
    factor_type: str = "totp",
    status: str = "verified",
    age_seconds: int = 0,
) -> str | None:
    """A factor as Supabase Auth enrols one; returns its secret (a new base32 one unless given, None too)."""
    if secret is ...:
        secret = pyotp.random_base32(32) if factor_type == "totp" else None
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at,
                                          secret)
            values (:id, :u, null, cast(:t as auth.factor_type), cast(:s as auth.factor_status),
                    now() - make_interval(secs => :age), now(), :secret)
        """),
            {"id": uuid.uuid4(), "u": user_id, "t": factor_type, "s": status, "secret": secret, "age": age_seconds},
        )
    return secret


def _json(value: Any) -> str:
    return json.dumps(value)
