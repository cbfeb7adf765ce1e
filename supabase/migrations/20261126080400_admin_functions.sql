-- Conversation storage, part 5: admin functions (statistics, cleanup, import), executable by
-- service_role only, and the hourly pg_cron cleanup job.

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

-- cleanup -----------------------------------------------------------------------------------
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

select cron.schedule(
  'cleanup-expired-conversations',
  '0 * * * *',
  'call private.cleanup_expired_conversations_job()'
);

-- import ------------------------------------------------------------------------------------
create function public.import_conversation(p_export jsonb)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_id text := p_export ->> 'conversation_id';
  v_row public.ai_conversations;
  v_ttl integer;
begin
  if jsonb_typeof(p_export) is distinct from 'object' then
    raise exception 'an export must be a JSON object' using errcode = '22023';
  end if;
  if jsonb_typeof(p_export -> 'conversation_id') is distinct from 'string' then
    raise exception 'conversation_id must be a string' using errcode = '22023';
  end if;
  if jsonb_typeof(coalesce(p_export -> 'messages', '[]'::jsonb)) <> 'array' then
    raise exception 'messages must be an array' using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(coalesce(p_export -> 'messages', '[]'::jsonb)) e
              where jsonb_typeof(e) <> 'object') then
    raise exception 'every message must be a JSON object' using errcode = '22023';
  end if;
  v_ttl := coalesce((p_export ->> 'ttl_hours')::integer, (private.settings()).ttl_hours);

  perform private.purge_expired_conversation(v_id);
  begin
    insert into public.ai_conversations (conversation_id, user_id, metadata, ttl_hours, created_at, expires_at)
    values (
      v_id,
      (p_export ->> 'user_id')::uuid,
      coalesce(p_export -> 'metadata', '{}'::jsonb),
      v_ttl,
      coalesce((p_export ->> 'created_at')::timestamptz, now()),
      -- A restored conversation never comes back already expired.
      greatest((p_export ->> 'expires_at')::timestamptz, now() + make_interval(hours => v_ttl)))
    returning * into v_row;
  exception when unique_violation then
    raise exception 'conversation % already exists', v_id using errcode = '23505';
  end;

  insert into public.ai_conversation_messages (conversation_id, role, content, metadata, idempotency_key, created_at)
  select v_id, e ->> 'role', e ->> 'content', coalesce(e -> 'metadata', '{}'::jsonb),
         e ->> 'idempotency_key', coalesce((e ->> 'created_at')::timestamptz, now())
    from jsonb_array_elements(coalesce(p_export -> 'messages', '[]'::jsonb)) with ordinality as x(e, n)
   order by (e ->> 'seq')::bigint nulls last, n;

  return private.conversation_json(private.live_conversation(v_id))::json;
end
$$;
comment on function public.import_conversation(jsonb) is
  'Restores an export_conversation() document (messages renumbered 1..n in seq order). '
  '23505 when a live conversation with that id exists.';

revoke all on function
  public.conversation_stats(), private.delete_expired_batch(integer),
  public.cleanup_expired_conversations(integer), public.import_conversation(jsonb)
from public, anon, authenticated;
revoke all on procedure private.cleanup_expired_conversations_job(integer, double precision)
  from public, anon, authenticated;
grant execute on function
  public.conversation_stats(), private.delete_expired_batch(integer),
  public.cleanup_expired_conversations(integer), public.import_conversation(jsonb)
to service_role;
