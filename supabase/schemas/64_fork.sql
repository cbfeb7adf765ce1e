-- Fork (edit and regenerate): a new conversation of the same owner holding copies of messages
-- 1..at_seq, numbered as in the source (a cleared source, or one with deleted messages, has
-- holes: the copies keep them), each recording forked_from {conversation_id, seq}; the fork's
-- last_seq is at_seq, so its next message is at_seq + 1. Editing message k is a fork at k - 1
-- followed by a chat turn with the new text: the new text is message k again. Raw history is
-- never rewritten: the original stays as it was.
--
-- fork_conversation calls private.copy_messages_for_fork, a security definer helper (users may
-- not write seq: their column grants on ai_conversation_messages leave it out), for the one
-- INSERT ... SELECT that copies the messages with their seq (the append trigger keeps a given
-- seq only for the fork's rows: 40_append.sql).
create function private.copy_messages_for_fork(p_source text, p_fork text, p_at_seq bigint)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_role text := current_setting('role');
  v_source public.ai_conversations;
  v_fork public.ai_conversations;
  v_copied integer;
begin
  -- Executable by users (fork_conversation runs as the caller), so it checks for itself what
  -- fork_conversation already did: both live, the same owner, the caller that owner unless the
  -- service, and the fork still empty (it never writes into a conversation with messages).
  select * into v_source from public.ai_conversations c where c.conversation_id = p_source and c.expires_at > now();
  select * into v_fork from public.ai_conversations c where c.conversation_id = p_fork and c.expires_at > now()
     for update;
  if v_source.conversation_id is null or v_fork.conversation_id is null
     or v_fork.user_id is distinct from v_source.user_id or v_fork.last_seq <> 0
     or (v_role in ('anon', 'authenticated') and not coalesce(private.is_owner(v_source.user_id, auth.uid()), false)) then
    perform private.not_found(p_fork);
  end if;
  -- One insert, in seq order; the trigger keeps each given seq for rows of p_fork only. Each copy's metadata says what
  -- it copies (forked_from), which also keeps copies out of usage. Idempotency keys are not
  -- copied: they belong to the original's retries.
  perform set_config('private.copying_into', p_fork, true);
  insert into public.ai_conversation_messages (conversation_id, seq, role, content, metadata)
  select p_fork, m.seq, m.role, m.content,
         m.metadata || jsonb_build_object('forked_from', jsonb_build_object('conversation_id', p_source, 'seq', m.seq))
    from public.ai_conversation_messages m
   where m.conversation_id = p_source and m.seq <= p_at_seq
   order by m.seq;
  get diagnostics v_copied = row_count;
  perform set_config('private.copying_into', '', true);
  -- at_seq itself may be a hole (a deleted message): the fork still continues at at_seq + 1.
  update public.ai_conversations c set last_seq = p_at_seq
   where c.conversation_id = p_fork and c.last_seq < p_at_seq;
  return v_copied;
end
$$;
comment on function private.copy_messages_for_fork(text, text, bigint) is
  'Copies messages 1..p_at_seq of p_source into the empty fork p_fork (same owner, both live, the '
  'caller their owner or the service) keeping their seq, each with metadata.forked_from; sets the '
  'fork''s last_seq to p_at_seq; returns the number copied. Security definer: users may not write '
  'seq. P0002 otherwise.';

create function public.fork_conversation(
  p_conversation_id text,
  p_at_seq bigint,
  p_new_conversation_id text default null,
  p_title text default null
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_source public.ai_conversations := private.live_conversation(p_conversation_id);
  v_id text;
begin
  if p_at_seq is null or p_at_seq < 1 or p_at_seq > v_source.last_seq then
    raise exception 'at_seq must be between 1 and %', v_source.last_seq using errcode = '22023';
  end if;
  -- create_conversation applies the owner rule (a user forks only what it may read: its own).
  v_id := public.create_conversation(
    p_new_conversation_id, v_source.user_id,
    v_source.metadata || jsonb_build_object(
      'forked_from', jsonb_build_object('conversation_id', v_source.conversation_id, 'seq', p_at_seq)),
    v_source.ttl_hours) ->> 'conversation_id';
  update public.ai_conversations c
     set title = coalesce(nullif(btrim(p_title), ''), v_source.title), tags = v_source.tags
   where c.conversation_id = v_id;
  perform private.copy_messages_for_fork(p_conversation_id, v_id, p_at_seq);
  return private.conversation_json(private.live_conversation(v_id));
end
$$;
comment on function public.fork_conversation(text, bigint, text, text) is
  'Creates a conversation of the same owner (id p_new_conversation_id, or generated) with copies of '
  'messages 1..p_at_seq keeping their seq (each with metadata.forked_from {conversation_id, seq}; '
  'last_seq = p_at_seq, so the next message is p_at_seq + 1), the source''s '
  'metadata plus forked_from {conversation_id, seq}, its tags, '
  'and p_title or the source''s title. P0002 when the source is not the caller''s live conversation; '
  '22023 when p_at_seq is outside 1..last_seq; 23505 when the new id is taken.';
