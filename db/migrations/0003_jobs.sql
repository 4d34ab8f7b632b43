-- 0003 — jobs: what the platform runs on a model. The usage and failure analytics read it.
-- Created only where missing (and recorded in dashboard.created_objects); on a live platform the existing
-- jobs table is used as it is: no index, trigger, policy, grant or comment of ours is added to it here.
-- (The usage capture that 0010 adds to any jobs table is built to never refuse or fail a write.)

do $do$
begin
  if pg_catalog.to_regclass('public.jobs') is null then
    create table public.jobs (
      id             uuid primary key default gen_random_uuid(),
      user_id        uuid references auth.users (id) on delete set null,
      api_model_id   uuid references public.api_models (id),
      status         text not null default 'queued'
                     check (status in ('queued', 'processing', 'completed', 'failed', 'cancelled')),
      quality_rating smallint check (quality_rating between 1 and 5),
      error_message  text,
      created_at     timestamptz not null default now(),
      updated_at     timestamptz not null default now(),
      completed_at   timestamptz
    );
    create index jobs_api_model_id_idx on public.jobs (api_model_id);
    create index jobs_user_id_created_at_idx on public.jobs (user_id, created_at desc);
    insert into dashboard.created_objects (object) values ('public.jobs');
  end if;

  if exists (select 1 from dashboard.created_objects where object = 'public.jobs') then
    comment on table public.jobs is 'Generation jobs routed to a model; api_model_id keeps a model from being deleted.';
    create or replace trigger dashboard_touch_updated_at before update on public.jobs
      for each row execute function dashboard.touch_updated_at();
    alter table public.jobs enable row level security;
    drop policy if exists "People read their own jobs" on public.jobs;
    create policy "People read their own jobs" on public.jobs
      for select to authenticated using (user_id = auth.uid());
    drop policy if exists "People create their own jobs" on public.jobs;
    create policy "People create their own jobs" on public.jobs
      for insert to authenticated with check (user_id = auth.uid());
    drop policy if exists "Admins manage jobs" on public.jobs;
    create policy "Admins manage jobs" on public.jobs
      for all to authenticated using (has_role(auth.uid(), 'admin'::app_role));
    grant select, insert, update, delete on public.jobs to authenticated, service_role;
  end if;
end
$do$;
