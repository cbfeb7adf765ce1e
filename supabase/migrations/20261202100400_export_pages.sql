-- Conversation storage, release 3, part 5: the export read in keyset pages.
--
-- export_conversation() builds one document holding every message: a 200 MB conversation is a
-- 200 MB value in the backend and in the API. export_conversation_page() returns the same
-- document's parts, one page at a time: the conversation's export fields, then messages after
-- a seq, at most p_limit of them (default: max_page_size) and about p_max_bytes of content and metadata (always at least
-- one message), with the seq to continue after. Concatenated, the pages are the document
-- export_conversation() returns and import_conversation() reads. Pages are separate
-- statements: messages appended meanwhile appear in a later page, never twice.
--
-- Message arrays are built with string_agg, not json_agg: json_agg puts a newline between
-- elements, and exports are written as JSON lines.

create function private.export_json(c public.ai_conversations)
returns json
language sql
stable
begin atomic
  select json_build_object(
    'conversation_id', c.conversation_id,
    'user_id', c.user_id,
    'created_at', c.created_at,
    'updated_at', c.updated_at,
    'expires_at', c.expires_at,
    'ttl_hours', c.ttl_hours,
    'metadata', c.metadata);
end;
comment on function private.export_json(public.ai_conversations) is
  'The export fields of a conversation (all but messages), in the export document''s key order. '
  'Inlined by the planner.';

create function private.export_message_json(m public.ai_conversation_messages)
returns json
language sql
stable
begin atomic
  select json_build_object(
    'id', m.id, 'seq', m.seq, 'role', m.role, 'content', m.content,
    'metadata', m.metadata, 'idempotency_key', m.idempotency_key, 'created_at', m.created_at);
end;
comment on function private.export_message_json(public.ai_conversation_messages) is
  'A message in the export shape (what import_conversation() reads). Inlined by the planner.';

create or replace function public.export_conversation(p_conversation_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_row public.ai_conversations := private.live_conversation(p_conversation_id);
begin
  return private.json_concat(private.export_json(v_row), json_build_object(
    'messages', (
      select coalesce(json_agg(private.export_message_json(m) order by m.seq), '[]'::json)
        from public.ai_conversation_messages m
       where m.conversation_id = p_conversation_id)));
end
$$;

create function public.export_conversation_page(
  p_conversation_id text,
  p_after_seq bigint default 0,
  p_limit integer default null,
  p_max_bytes integer default 1048576
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_row public.ai_conversations;
  v_messages text;
  v_last bigint;
  v_next bigint;
  v_limit integer;
begin
  select coalesce(p_limit, s.max_page_size) into v_limit from public.ai_conversation_settings s where s.id;
  perform private.check_limit('limit', v_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  perform private.check_limit('max_bytes', p_max_bytes, 1, 1073741824);
  v_row := private.live_conversation(p_conversation_id);
  -- The first p_limit messages after the cursor, cut where the bytes before a message reach
  -- p_max_bytes (the first one is always taken, whatever its size).
  select string_agg(private.export_message_json(p.msg)::text, ', ' order by p.seq), max(p.seq)
    into v_messages, v_last
    from (select w.msg, w.seq, sum(w.bytes) over (order by w.seq) - w.bytes as bytes_before
            from (select m as msg, m.seq, octet_length(m.content) + octet_length(m.metadata::text) as bytes
                    from public.ai_conversation_messages m
                   where m.conversation_id = p_conversation_id and m.seq > coalesce(p_after_seq, 0)
                   order by m.seq
                   limit v_limit) w) p
   where p.bytes_before < p_max_bytes;
  if v_last is not null and exists (select 1 from public.ai_conversation_messages m
                                     where m.conversation_id = p_conversation_id and m.seq > v_last) then
    v_next := v_last;
  end if;
  return json_build_object(
    'conversation', private.export_json(v_row),
    'messages', ('[' || coalesce(v_messages, '') || ']')::json,
    'next_after_seq', v_next);
end
$$;
comment on function public.export_conversation_page(text, bigint, integer, integer) is
  'One page of a conversation''s export: {conversation: the export fields, messages: up to p_limit '
  '(default max_page_size) messages after seq p_after_seq (and about p_max_bytes of content and metadata, at least one), '
  'next_after_seq: the p_after_seq of the next page, or null after the last}.';
