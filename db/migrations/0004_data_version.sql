-- 0004 — a cheap data version for caches: a counter per table, bumped by a statement-level trigger on
-- every insert, update or delete of the catalogue, whoever makes it (the dashboard, SQL, Studio).
-- Every app process keys its cached reads by it, so a write made through one process behind a load
-- balancer is seen on the next click in every other.

create table if not exists dashboard.data_version (
  table_name text primary key,
  version    bigint not null default 0
);
comment on table dashboard.data_version is 'Bumped on every write to the catalogue; part of every cache key.';
insert into dashboard.data_version (table_name) values ('api_models'), ('api_providers') on conflict do nothing;

-- Security definer: it runs inside the statement of whoever wrote (an admin as "authenticated"),
-- who has no rights on this table of ours.
create or replace function dashboard.bump_data_version() returns trigger
language plpgsql security definer
set search_path = dashboard, pg_temp
as $fn$
begin
  update dashboard.data_version set version = version + 1 where table_name = tg_table_name;
  return null;
end
$fn$;
comment on function dashboard.bump_data_version() is
  'Statement trigger: counts writes per table so that caches know when to refresh. Security definer: writers have no rights on data_version.';

create or replace trigger dashboard_bump_data_version after insert or update or delete or truncate on public.api_models
  for each statement execute function dashboard.bump_data_version();
create or replace trigger dashboard_bump_data_version after insert or update or delete or truncate on public.api_providers
  for each statement execute function dashboard.bump_data_version();

grant usage on schema dashboard to authenticated, anon, service_role;
grant select on dashboard.data_version to authenticated, anon, service_role;
