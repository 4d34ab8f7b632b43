-- 0012 — on the jobs table the dashboard created, people can no longer forge usage figures.
--
-- 0003's "People create their own jobs" checked only user_id: a signed-in user could insert 300 failed,
-- one-star, back-dated jobs against any model (an inactive one they cannot see included, which could then
-- never be deleted), and move their jobs' status and rating at will. Now, on that table only:
-- - people insert only their own jobs, queued, now, without a rating or a result, for a model they can see;
-- - status, results and times move only by the service role (the platform's worker) or an admin's tools
--   outside RLS; people may rate their own completed job once, and change nothing else.
-- A platform's own jobs table keeps its own policies: the Overview says when they let people write status
-- or rating (dashboard.created_objects is readable by signed-in people for that).

do $do$
begin
  if not exists (select 1 from dashboard.created_objects where object = 'public.jobs') then
    return;
  end if;
  drop policy if exists "People create their own jobs" on public.jobs;
  drop policy if exists "People queue their own jobs" on public.jobs;
  create policy "People queue their own jobs" on public.jobs for insert to authenticated
    with check (
      user_id = (select auth.uid()) and status = 'queued' and quality_rating is null
      and error_message is null and completed_at is null
      and created_at between now() - interval '1 minute' and now() + interval '1 minute'
      and exists (select 1 from public.api_models m where m.id = api_model_id)  -- under the person's RLS
    );
  drop policy if exists "People rate their own completed jobs once" on public.jobs;
  create policy "People rate their own completed jobs once" on public.jobs for update to authenticated
    using (user_id = (select auth.uid()) and status = 'completed' and quality_rating is null)
    with check (user_id = (select auth.uid()) and status = 'completed');
  -- Row policies cannot say which columns change; the grant does: people (admins included, through the
  -- API role) update the rating and nothing else.
  revoke update on public.jobs from authenticated;
  grant update (quality_rating) on public.jobs to authenticated;
end
$do$;

drop policy if exists "Signed-in people read what the dashboard created" on dashboard.created_objects;
create policy "Signed-in people read what the dashboard created" on dashboard.created_objects
  for select to authenticated using (true);
grant select on dashboard.created_objects to authenticated;
