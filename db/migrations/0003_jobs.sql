-- 0003 — jobs: what the platform runs on a model. The usage and failure analytics read it.
-- Created only where missing; on a live platform the existing jobs table is used as it is.

create table if not exists public.jobs (
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
comment on table public.jobs is 'Generation jobs routed to a model; api_model_id keeps a model from being deleted.';

create index if not exists jobs_api_model_id_idx on public.jobs (api_model_id);
create index if not exists jobs_user_id_created_at_idx on public.jobs (user_id, created_at desc);

create or replace trigger dashboard_touch_updated_at before update on public.jobs
  for each row execute function dashboard.touch_updated_at();

alter table public.jobs enable row level security;

do $do$
begin
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'jobs') then
    create policy "People read their own jobs" on public.jobs
      for select to authenticated using (user_id = auth.uid());
    create policy "People create their own jobs" on public.jobs
      for insert to authenticated with check (user_id = auth.uid());
    create policy "Admins manage jobs" on public.jobs
      for all to authenticated using (has_role(auth.uid(), 'admin'::app_role));
  end if;
end
$do$;

grant select, insert on public.jobs to authenticated;
grant update, delete on public.jobs to authenticated;
grant select, insert, update, delete on public.jobs to service_role;
