-- Admin functions, executable by service_role only: statistics, cleanup, and the jobs pg_cron
-- runs. The jobs themselves (cleanup-expired-conversations hourly, roll-up-usage every minute,
-- prune-conversation-cron-history daily) are rows of cron.job, scheduled by the migrations
-- (20261126080400_admin_functions.sql, 20261204100500_usage.sql, 20261202100500_cron_history.sql).

create function public.conversation_stats()
returns json
language sql
stable
security invoker
set search_path = ''
as $$
  with totals as (
    select coalesce(sum(t.conversations), 0)::bigint as conversations,
           coalesce(sum(t.messages), 0)::bigint as messages
      from private.conversation_totals t
  ), expired as (
    select count(*) as n from public.ai_conversations c where c.expires_at <= now()
  )
  select json_build_object(
    'total_conversations', totals.conversations,
    'total_messages', totals.messages,
    'expired_conversations', expired.n,
    'active_conversations', totals.conversations - expired.n,
    'ttl_hours', (private.settings()).ttl_hours)
  from totals, expired
$$;
comment on function public.conversation_stats() is
  'Totals for admins: conversations (expired ones included until cleanup), messages, expired '
  'conversations awaiting cleanup, and the default TTL. Reads trigger-maintained counters, so '
  'its cost does not grow with the data.';

-- Cleanup -----------------------------------------------------------------------------------------
create function private.delete_expired_batch(p_batch_size integer)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_ids text[];
  v_removed integer;
begin
  select array_agg(b.conversation_id) into v_ids
    from (select c.conversation_id from public.ai_conversations c
           where c.expires_at <= now()
           order by c.expires_at
           limit p_batch_size
             for update skip locked) b;
  if v_ids is null then
    return 0;
  end if;
  -- By key (= any(array) is an index scan per id; a join to the batch was planned as a hash
  -- join over every message), and messages first: one delete instead of one cascade per
  -- conversation.
  delete from public.ai_conversation_messages m where m.conversation_id = any(v_ids);
  delete from public.ai_conversations c where c.conversation_id = any(v_ids);
  get diagnostics v_removed = row_count;
  return v_removed;
end
$$;
comment on function private.delete_expired_batch(integer) is
  'Deletes up to p_batch_size expired conversations with their messages; skips rows locked by others.';

create function public.cleanup_expired_conversations(p_batch_size integer default 1000)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_total integer := 0;
  v_batch integer;
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 100000 then
    raise exception 'batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  loop
    v_batch := private.delete_expired_batch(p_batch_size);
    v_total := v_total + v_batch;
    exit when v_batch < p_batch_size;
  end loop;
  return v_total;
end
$$;
comment on function public.cleanup_expired_conversations(integer) is
  'Deletes every expired conversation and its messages, in batches; returns how many conversations '
  'were removed. The hourly job uses private.cleanup_expired_conversations_job(), which commits '
  'after each batch.';

-- No SET clause and not security definer: either would forbid the COMMIT between batches.
-- Names are fully qualified instead.
create procedure private.cleanup_expired_conversations_job(
  p_batch_size integer default 250,
  p_pause_seconds double precision default 0.05
)
language plpgsql
as $$
declare
  v_batch integer;
begin
  loop
    v_batch := private.delete_expired_batch(p_batch_size);
    commit;
    exit when v_batch < p_batch_size;
    -- A short breath between batches leaves the disk and the CPUs to live traffic: the job
    -- has an hour, appends have milliseconds.
    perform pg_sleep(p_pause_seconds);
  end loop;
end
$$;
comment on procedure private.cleanup_expired_conversations_job(integer, double precision) is
  'The pg_cron cleanup: the same batches as cleanup_expired_conversations(), each committed on its '
  'own so no lock is held for longer than one batch.';

-- pg_cron's run history of our jobs -------------------------------------------------------------
-- pg_cron writes a row to cron.job_run_details for every run and never deletes one: the hourly
-- cleanup alone adds 8,760 a year, forever. A daily job keeps the last 7 days of the history of
-- this store's own jobs. Only ours: on Supabase the table is shared by the whole project
-- (other features' and other teams' jobs), and how long their history is kept is their
-- owners' decision; an admin who wants every job pruned can schedule
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
