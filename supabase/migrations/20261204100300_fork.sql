-- Organising a history, part 4: fork (edit and regenerate). A new conversation of the same owner
-- holding copies of messages 1..at_seq; editing message k is a fork at k - 1 followed by a chat
-- turn with the new text. Raw history is never rewritten: the original stays as it was.

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
  -- One insert: the append trigger numbers the copies 1, 2, ... in seq order, so a source without
  -- a gap (one that was never cleared) keeps its seq numbers. Each copy's metadata says what it
  -- copies (forked_from), which also keeps copies out of usage. Idempotency keys are not copied:
  -- they belong to the original's retries.
  insert into public.ai_conversation_messages (conversation_id, role, content, metadata)
  select v_id, m.role, m.content,
         m.metadata || jsonb_build_object('forked_from',
                                          jsonb_build_object('conversation_id', p_conversation_id, 'seq', m.seq))
    from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id and m.seq <= p_at_seq
   order by m.seq;
  return private.conversation_json(private.live_conversation(v_id));
end
$$;
comment on function public.fork_conversation(text, bigint, text, text) is
  'Creates a conversation of the same owner (id p_new_conversation_id, or generated) with copies of '
  'messages 1..p_at_seq (each with metadata.forked_from {conversation_id, seq}), the source''s '
  'metadata plus forked_from {conversation_id, seq}, its tags, '
  'and p_title or the source''s title. P0002 when the source is not the caller''s live conversation; '
  '22023 when p_at_seq is outside 1..last_seq; 23505 when the new id is taken.';
