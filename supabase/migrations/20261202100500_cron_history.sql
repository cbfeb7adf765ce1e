-- Conversation storage, release 3, part 6: pg_cron's run history of our jobs is pruned.
--
-- pg_cron writes a row to cron.job_run_details for every run and never deletes one: the hourly
-- cleanup alone adds 8,760 a year, forever. A daily job keeps the last 7 days of the history of
-- this store's own jobs. Only ours: on Supabase the table is shared by the whole project
-- (other features' and other teams' jobs), and how long their history is kept is their
-- owners' decision, not this migration's; an admin who wants every job pruned can schedule
-- `delete from cron.job_run_details where end_time < now() - interval '7 days'` instead.

create function private.prune_cron_history(p_keep interval default interval '7 days')
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_removed integer;
begin
  -- A run that never recorded its end (still running, or the server stopped) ages by its start.
  delete from cron.job_run_details d
   using cron.job j
   where j.jobid = d.jobid
     and j.jobname in ('cleanup-expired-conversations', 'prune-conversation-cron-history')
     and coalesce(d.end_time, d.start_time) < now() - p_keep;
  get diagnostics v_removed = row_count;
  return v_removed;
end
$$;
comment on function private.prune_cron_history(interval) is
  'Deletes the cron.job_run_details rows of this store''s jobs (cleanup-expired-conversations, '
  'prune-conversation-cron-history) older than p_keep; returns how many. Other jobs'' history is '
  'left alone.';

select cron.schedule(
  'prune-conversation-cron-history',
  '17 3 * * *',
  'select private.prune_cron_history()'
);
