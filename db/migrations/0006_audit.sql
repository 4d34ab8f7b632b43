-- 0006 — the audit trail: every insert, update and delete of api_models and api_providers, whatever made
-- it (the dashboard, SQL, Supabase Studio, a worker), recorded by trigger in our own schema: who, when,
-- with what, and the whole row before and after.

create table if not exists dashboard.audit_log (
  id           bigint generated always as identity primary key,
  at           timestamptz not null default clock_timestamp(),
  table_name   text        not null,
  row_id       uuid        not null,
  action       text        not null check (action in ('insert', 'update', 'delete')),
  actor_id     uuid,                  -- auth.uid(): the signed-in person, when there is one
  actor_email  text,                  -- their email then (accounts can be deleted; the log stays readable)
  db_role      text        not null,  -- the role the write ran as: authenticated, service_role, postgres...
  application  text,                  -- application_name: which tool made it, when the tool says
  transaction  bigint      not null default txid_current(),
  old_row      jsonb,
  new_row      jsonb
);
comment on table dashboard.audit_log is
  'Every write to api_models and api_providers (by trigger), with the row before and after. Append-only.';

create index if not exists audit_log_row_idx on dashboard.audit_log (table_name, row_id, at desc);
create index if not exists audit_log_at_idx on dashboard.audit_log (at desc);
create index if not exists audit_log_actor_idx on dashboard.audit_log (actor_id, at desc);

-- Security definer: writers (an admin as "authenticated") have no rights on the log, so nobody can
-- write to it but this trigger, nor change or delete what it wrote. Catalogue writes are rare, so the
-- function can afford a fixed search_path (unlike the job-usage triggers of 0005).
create or replace function dashboard.audit_row() returns trigger
language plpgsql security definer
set search_path = dashboard, pg_temp
as $fn$
declare
  before_row jsonb := case when tg_op = 'INSERT' then null else to_jsonb(old) end;
  after_row  jsonb := case when tg_op = 'DELETE' then null else to_jsonb(new) end;
  who        uuid  := auth.uid();
begin
  -- An update that changes nothing but updated_at (a no-op save) is not history.
  if tg_op = 'UPDATE' and (before_row - 'updated_at') = (after_row - 'updated_at') then
    return null;
  end if;
  insert into dashboard.audit_log (table_name, row_id, action, actor_id, actor_email, db_role, application,
                                   old_row, new_row)
  values (tg_table_name, coalesce(new.id, old.id), lower(tg_op), who,
          (select u.email from auth.users u where u.id = who),
          case when current_setting('role') = 'none' then session_user::text else current_setting('role') end,
          nullif(current_setting('application_name', true), ''),
          before_row, after_row);
  return null;
end
$fn$;
comment on function dashboard.audit_row() is
  'Row trigger on api_models and api_providers: appends the write to dashboard.audit_log.';
revoke all on function dashboard.audit_row() from public;

create or replace trigger dashboard_audit after insert or update or delete on public.api_models
  for each row execute function dashboard.audit_row();
create or replace trigger dashboard_audit after insert or update or delete on public.api_providers
  for each row execute function dashboard.audit_row();

-- Only admins read it; nobody writes it but the trigger.
alter table dashboard.audit_log enable row level security;
do $do$
begin
  if not exists (select 1 from pg_policies where schemaname = 'dashboard' and tablename = 'audit_log') then
    create policy "Admins read the audit log" on dashboard.audit_log for select to authenticated
      using ((select public.has_role((select auth.uid()), 'admin'::public.app_role)));
  end if;
end
$do$;
grant select on dashboard.audit_log to authenticated, service_role;
