-- Messages as items: what the OpenAI-compatible API (/v1/conversations, /v1/responses) needs
-- from the store, under the same RLS as everything else: several messages appended in one call,
-- one message read, listed from a cursor or deleted by id, and one response (a turn of kind
-- response, 52_turns.sql) read, its input items paged, or deleted with its messages.
--
-- Messages are immutable but deletable: whoever may write a conversation (the service, or its
-- owner) may delete one of its messages. The sequence number of a deleted message is never
-- handed out again (last_seq only grows), so seq stays strictly increasing with holes.
--
-- A fork copies messages with their metadata. A copy is the fork's own history, not part of the
-- response it was copied from: a response is the messages its turn recorded, never a fork's
-- copies, nor a message elsewhere that names its id.
-- And a response stays the latest of its conversation when only a summary was written after it
-- (compaction appends summaries after a reply): continuing from it continues the conversation,
-- it does not fork it.

-- Errors ----------------------------------------------------------------------------------------
create function private.item_not_found(p_kind text, p_id text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise exception '% % not found', p_kind, p_id using errcode = 'P0002';
end
$$;
comment on function private.item_not_found(text, text) is
  'Raises P0002 for a message or response that is unknown or not visible to the caller: one '
  'answer for both, like private.not_found() for conversations.';

-- Item ids ----------------------------------------------------------------------------------------
-- A message is found by its item id in two ways: the API writes each item it stores with the
-- item's id as idempotency key (msg_..., fc_..., known before the insert, so a stream can name
-- it first), and any other message's item id is a prefix and the 32 hex digits of its uuid.
create function private.item_uuid(p_item_id text)
returns uuid
language sql
immutable
begin atomic
  select substring(p_item_id from '_([0-9a-f]{32})$')::uuid;
end;
comment on function private.item_uuid(text) is
  'The message uuid an item id such as msg_<32 hex digits> names, else null. Inlined by the planner.';

-- Append several -------------------------------------------------------------------------------
create function public.append_messages(p_conversation_id text, p_messages jsonb)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_message jsonb;
  v_out json[] := '{}';
begin
  if jsonb_typeof(p_messages) is distinct from 'array' then
    raise exception 'messages must be a JSON array' using errcode = '22023';
  end if;
  perform private.check_limit('messages', jsonb_array_length(p_messages), 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  -- One append_message per element: each gets its seq, the sliding expiry and its idempotency
  -- rule exactly as a single append does; all of them or none (one transaction).
  for v_message in select e.value from jsonb_array_elements(p_messages) e loop
    v_out := v_out || (public.append_message(
      p_conversation_id,
      v_message ->> 'role',
      v_message ->> 'content',
      coalesce(v_message -> 'metadata', '{}'::jsonb),
      v_message ->> 'idempotency_key') -> 'message');
  end loop;
  return array_to_json(v_out);
end
$$;
comment on function public.append_messages(text, jsonb) is
  'Appends the messages of a JSON array ({role, content, metadata, idempotency_key}) in order, '
  'all or none, and returns them (a replayed key returns the message first stored). The /v1 '
  'items.create and the output of a response are one call.';

-- Read one, list from a cursor ------------------------------------------------------------------
create function public.get_message(p_conversation_id text, p_item_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_message json;
begin
  perform private.live_conversation(p_conversation_id);
  select row_to_json(m) into v_message from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id
     and (m.idempotency_key = p_item_id or m.id = private.item_uuid(p_item_id))
   limit 1;
  if v_message is null then
    perform private.item_not_found('item', p_item_id);
  end if;
  return v_message;
end
$$;
comment on function public.get_message(text, text) is
  'One message of a live conversation by item id (see private.item_uuid); P0002 for an unknown conversation or message.';

create function public.list_messages(
  p_conversation_id text,
  p_limit integer default 20,
  p_order text default 'desc',
  p_after text default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_after bigint;
  v_page json;
  v_count integer;
begin
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  if p_order is null or p_order not in ('asc', 'desc') then
    raise exception 'order must be asc or desc' using errcode = '22023';
  end if;
  perform private.live_conversation(p_conversation_id);
  if p_after is not null then
    select m.seq into v_after from public.ai_conversation_messages m
     where m.conversation_id = p_conversation_id
       and (m.idempotency_key = p_after or m.id = private.item_uuid(p_after))
     limit 1;
    if v_after is null then
      perform private.item_not_found('item', p_after);
    end if;
  end if;
  -- One row more than asked tells whether there is a next page; each order its own range scan.
  if p_order = 'asc' then
    select json_agg(h order by h.seq), count(*) into v_page, v_count
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = p_conversation_id and (v_after is null or m.seq > v_after)
             order by m.seq limit p_limit + 1) h;
  else
    select json_agg(h order by h.seq desc), count(*) into v_page, v_count
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = p_conversation_id and (v_after is null or m.seq < v_after)
             order by m.seq desc limit p_limit + 1) h;
  end if;
  return json_build_object(
    'messages', coalesce((select json_agg(e) from json_array_elements(v_page) with ordinality x(e, i)
                           where x.i <= p_limit), '[]'::json),
    'has_more', coalesce(v_count > p_limit, false));
end
$$;
comment on function public.list_messages(text, integer, text, text) is
  'A page of a conversation''s messages in seq order (asc or desc) after the message p_after '
  '(a cursor: the last item id of the previous page), and whether more follow.';

-- Delete one ------------------------------------------------------------------------------------
create function public.delete_message(p_conversation_id text, p_item_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_row public.ai_conversations;
begin
  perform private.live_conversation(p_conversation_id);
  -- RLS decides who may: the owner of a live conversation, or the service.
  delete from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id
     and (m.idempotency_key = p_item_id or m.id = private.item_uuid(p_item_id));
  if not found then
    perform private.item_not_found('item', p_item_id);
  end if;
  select * into v_row from public.ai_conversations c where c.conversation_id = p_conversation_id;
  return private.conversation_json(v_row);
end
$$;
comment on function public.delete_message(text, text) is
  'Deletes one message (its seq is never reused) and returns the conversation; P0002 for an '
  'unknown conversation or message.';

-- Responses ---------------------------------------------------------------------------------------
create function public.get_response(p_response_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
  v_row public.ai_conversations;
begin
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_response_id) and t.kind = 'response';
  select * into v_row from public.ai_conversations c
   where c.conversation_id = v_turn.conversation_id and c.expires_at > now();
  if v_turn.id is null or v_row.conversation_id is null then
    perform private.item_not_found('response', p_response_id);
  end if;
  return json_build_object(
    'turn', private.turn_json(v_turn),
    'conversation', private.conversation_json(v_row),
    'input', (select coalesce(json_agg(m order by m.seq), '[]'::json) from public.ai_conversation_messages m
               where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids)),
    'output', (select coalesce(json_agg(m order by m.seq), '[]'::json) from public.ai_conversation_messages m
                where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.output_ids)),
    'latest', not exists (select 1 from public.ai_conversation_messages m
                           where m.conversation_id = v_turn.conversation_id and m.seq > v_turn.last_seq
                             and not private.is_summary(m.role, m.metadata)));
end
$$;
comment on function public.get_response(text) is
  'One /v1 response: its turn, its conversation, the messages its turn stored as input and as output '
  '(those still there, in seq order) and whether nothing but summaries came after it (latest); P0002 '
  'when it is unknown, not visible to the caller or its conversation expired.';

create function public.delete_response(p_response_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
  v_count integer;
begin
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_response_id) and t.kind = 'response'
     for update;
  if v_turn.id is null or not exists (select 1 from public.ai_conversations c
                                       where c.conversation_id = v_turn.conversation_id and c.expires_at > now()) then
    perform private.item_not_found('response', p_response_id);
  end if;
  with d as (
    delete from public.ai_conversation_messages m
     where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids || v_turn.output_ids)
    returning 1)
  select count(*) into v_count from d;
  delete from public.ai_turns t where t.id = v_turn.id;
  return json_build_object('id', p_response_id, 'deleted', v_count);
end
$$;
comment on function public.delete_response(text) is
  'Deletes one /v1 response: its turn and the messages it stored (its input and output items; a '
  'fork''s copies stay, they are the fork''s history); returns how many messages; P0002 when it is '
  'not visible.';

create function public.list_response_items(
  p_response_id text,
  p_limit integer default 20,
  p_order text default 'desc',
  p_after text default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
  v_after bigint;
  v_page json;
  v_count integer;
begin
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  if p_order is null or p_order not in ('asc', 'desc') then
    raise exception 'order must be asc or desc' using errcode = '22023';
  end if;
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_response_id) and t.kind = 'response';
  if v_turn.id is null or not exists (select 1 from public.ai_conversations c
                                       where c.conversation_id = v_turn.conversation_id and c.expires_at > now()) then
    perform private.item_not_found('response', p_response_id);
  end if;
  if p_after is not null then
    select m.seq into v_after from public.ai_conversation_messages m
     where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids)
       and (m.idempotency_key = p_after or m.id = private.item_uuid(p_after));
    if v_after is null then
      perform private.item_not_found('item', p_after);
    end if;
  end if;
  select json_agg(h order by case when p_order = 'asc' then h.seq else -h.seq end), count(*) into v_page, v_count
    from (select * from public.ai_conversation_messages m
           where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids)
             and (v_after is null or (p_order = 'asc' and m.seq > v_after) or (p_order = 'desc' and m.seq < v_after))
           order by case when p_order = 'asc' then m.seq else -m.seq end
           limit p_limit + 1) h;
  return json_build_object(
    'messages', coalesce((select json_agg(e) from json_array_elements(v_page) with ordinality x(e, i)
                           where x.i <= p_limit), '[]'::json),
    'has_more', coalesce(v_count > p_limit, false));
end
$$;
comment on function public.list_response_items(text, integer, text, text) is
  'A page of the input items of one /v1 response in seq order (asc or desc) after the item p_after '
  '(the last item id of the previous page), and whether more follow; P0002 when it is not visible.';
