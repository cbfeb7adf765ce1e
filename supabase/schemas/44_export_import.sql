-- Export and import: one conversation with all its messages as one restorable document.
--
-- export_conversation() builds the whole document in one value: a 200 MB conversation is a
-- 200 MB value in the backend and in the API. export_conversation_page() returns the same
-- document's parts, one page at a time: the conversation's export fields, then messages after a
-- seq, at most p_limit of them (default: max_page_size) and about p_max_bytes of content and
-- metadata (always at least one message), with the seq to continue after. Concatenated, the
-- pages are the document export_conversation() returns and import_conversation() reads. Pages
-- are separate statements: messages appended meanwhile appear in a later page, never twice.
--
-- Message arrays of a page are built with string_agg, not json_agg: json_agg puts a newline
-- between elements, and exports are written as JSON lines. Ratings are not exported: they belong
-- to their raters, not to the conversation being moved.

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

create function public.export_conversation(p_conversation_id text)
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
comment on function public.export_conversation(text) is
  'One conversation with all its messages in the export shape (conversation_id, created_at, '
  'updated_at, messages, metadata, ...), which import_conversation() restores.';

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

-- Import (service only) ---------------------------------------------------------------------------
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
