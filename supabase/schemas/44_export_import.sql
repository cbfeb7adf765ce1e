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
    'metadata', c.metadata,
    'title', c.title,
    'tags', c.tags,
    'pinned', c.pinned,
    'archived', c.archived,
    'legal_hold', c.legal_hold,
    'last_seq', c.last_seq);
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

create function private.export_message_text(m public.ai_conversation_messages, p_feedback json)
returns text
language sql
stable
begin atomic
  select left(private.export_message_json(m)::text, -1)
         || coalesce(', "feedback" : ' || p_feedback::text, '') || '}';
end;
comment on function private.export_message_text(public.ai_conversation_messages, json) is
  'A message in the export shape, as JSON text, with its ratings (p_feedback, a JSON array) as '
  '"feedback" when there are any. Inlined by the planner.';

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
      select ('[' || coalesce(string_agg(private.export_message_text(m, r.feedback), ', ' order by m.seq), '') || ']')::json
        from public.ai_conversation_messages m
        left join lateral (
          select json_agg(private.export_feedback_json(f) order by f.user_id nulls first) as feedback
            from public.ai_message_feedback f
           where v_row.rated and f.conversation_id = m.conversation_id and f.seq = m.seq) r on true
       where m.conversation_id = p_conversation_id)));
end
$$;
comment on function public.export_conversation(text) is
  'The whole conversation as one JSON document (its export fields and every message, with the '
  'ratings the caller may read), which import_conversation() restores.';

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
  -- p_max_bytes (the first one is always taken, whatever its size). Ratings are read only for a
  -- conversation someone rated (a one-time test: no probe per message otherwise).
  select string_agg(private.export_message_text(p.msg, p.feedback), ', ' order by p.seq), max(p.seq)
    into v_messages, v_last
    from (select w.msg, w.seq, w.feedback, sum(w.bytes) over (order by w.seq) - w.bytes as bytes_before
            from (select m as msg, m.seq, r.feedback, octet_length(m.content) + octet_length(m.metadata::text) as bytes
                    from public.ai_conversation_messages m
                    left join lateral (
                      select json_agg(private.export_feedback_json(f) order by f.user_id nulls first) as feedback
                        from public.ai_message_feedback f
                       where v_row.rated and f.conversation_id = m.conversation_id and f.seq = m.seq) r on true
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
  '(default max_page_size) messages after seq p_after_seq (and about p_max_bytes of content and metadata, '
  'at least one), each with the ratings the caller may read, next_after_seq: the p_after_seq of the '
  'next page, or null after the last}.';

create function private.import_refused(p_what text, p_value text, p_reason text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'import: % % %', p_what, coalesce(p_value, 'null'), p_reason using errcode = '22023';
end
$$;
comment on function private.import_refused(text, text, text) is
  'Raises 22023 "import: <what> <value> <reason>": a field of an export document fails a check.';

-- Import (service only) ---------------------------------------------------------------------------
create function public.import_conversation(p_export jsonb)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_settings public.ai_conversation_settings := private.settings();
  v_id text := p_export ->> 'conversation_id';
  v_messages jsonb := coalesce(nullif(p_export -> 'messages', 'null'::jsonb), '[]'::jsonb);
  v_row public.ai_conversations;
  v_ttl integer;
  v_held boolean;
  v_created timestamptz;
  v_updated timestamptz;
  v_expires timestamptz;
  v_last_seq bigint;
  v_bad record;
begin
  -- The document's shape.
  if jsonb_typeof(p_export) is distinct from 'object' then
    raise exception 'an export must be a JSON object' using errcode = '22023';
  end if;
  if jsonb_typeof(p_export -> 'conversation_id') is distinct from 'string' then
    raise exception 'conversation_id must be a string' using errcode = '22023';
  end if;
  if jsonb_typeof(v_messages) <> 'array' then
    raise exception 'messages must be an array' using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(v_messages) e where jsonb_typeof(e) <> 'object') then
    raise exception 'every message must be a JSON object' using errcode = '22023';
  end if;
  if coalesce(jsonb_typeof(p_export -> 'title'), 'null') not in ('string', 'null')
     or coalesce(jsonb_typeof(p_export -> 'tags'), 'null') not in ('array', 'null')
     or coalesce(jsonb_typeof(p_export -> 'pinned'), 'null') not in ('boolean', 'null')
     or coalesce(jsonb_typeof(p_export -> 'archived'), 'null') not in ('boolean', 'null')
     or coalesce(jsonb_typeof(p_export -> 'legal_hold'), 'null') not in ('boolean', 'null')
     or coalesce(jsonb_typeof(p_export -> 'last_seq'), 'null') not in ('number', 'null') then
    raise exception 'title must be a string, tags an array, pinned, archived and legal_hold booleans, last_seq a number'
      using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(v_messages) e
              where coalesce(jsonb_typeof(e -> 'feedback'), 'null') not in ('array', 'null')
                 or (jsonb_typeof(e -> 'feedback') = 'array' and jsonb_array_length(e -> 'feedback') > 0
                     and jsonb_typeof(e -> 'seq') is distinct from 'number')
                 or exists (select 1 from jsonb_array_elements(coalesce(nullif(e -> 'feedback', 'null'::jsonb), '[]'::jsonb)) f
                             where jsonb_typeof(f) <> 'object')) then
    raise exception 'a message''s feedback must be an array of objects, on a message with its seq' using errcode = '22023';
  end if;

  -- The conversation's timestamps, checked like any write's: none in the future, in order, the
  -- expiry within the longest lifetime allowed.
  v_ttl := coalesce((p_export ->> 'ttl_hours')::integer, v_settings.ttl_hours);
  v_held := coalesce((p_export ->> 'legal_hold')::boolean, false);
  v_created := coalesce((p_export ->> 'created_at')::timestamptz, now());
  v_updated := coalesce((p_export ->> 'updated_at')::timestamptz, now());
  v_expires := (p_export ->> 'expires_at')::timestamptz;
  v_last_seq := (p_export ->> 'last_seq')::bigint;
  if v_created > now() then
    perform private.import_refused('created_at', v_created::text, 'is in the future');
  end if;
  if v_updated > now() then
    perform private.import_refused('updated_at', v_updated::text, 'is in the future');
  end if;
  if v_updated < v_created then
    perform private.import_refused('updated_at', v_updated::text, 'is before created_at');
  end if;
  if not v_held and v_expires > now() + make_interval(hours => v_settings.max_ttl_hours) then
    perform private.import_refused('expires_at', v_expires::text,
                                   format('is more than max_ttl_hours (%s) from now', v_settings.max_ttl_hours));
  end if;
  if not v_held and v_expires < (p_export ->> 'created_at')::timestamptz then  -- both the document's
    perform private.import_refused('expires_at', v_expires::text, 'is before created_at');
  end if;
  -- The messages' and ratings' timestamps, and last_seq against the seqs.
  select e ->> 'seq' as seq, (e ->> 'created_at')::timestamptz as created_at into v_bad
    from jsonb_array_elements(v_messages) e
   where (e ->> 'created_at')::timestamptz > now() or (e ->> 'created_at')::timestamptz < v_created
   limit 1;
  if found then
    perform private.import_refused('created_at', v_bad.created_at::text,
                                   format('of message %s is in the future or before the conversation''s', v_bad.seq));
  end if;
  select e ->> 'seq' as seq, (f ->> 'created_at')::timestamptz as created_at into v_bad
    from jsonb_array_elements(v_messages) e,
         jsonb_array_elements(coalesce(nullif(e -> 'feedback', 'null'::jsonb), '[]'::jsonb)) f
   where (f ->> 'created_at')::timestamptz > now() or (f ->> 'updated_at')::timestamptz > now()
      or (f ->> 'updated_at')::timestamptz < (f ->> 'created_at')::timestamptz
   limit 1;
  if found then
    perform private.import_refused('created_at', v_bad.created_at::text,
                                   format('of a rating of message %s is in the future, or after its updated_at', v_bad.seq));
  end if;
  if v_last_seq < coalesce((select max((e ->> 'seq')::bigint) from jsonb_array_elements(v_messages) e), 0) then
    perform private.import_refused('last_seq', v_last_seq::text, 'is before the seq of a message');
  end if;

  perform private.purge_expired_conversation(v_id);
  begin
    insert into public.ai_conversations (conversation_id, user_id, metadata, ttl_hours, created_at, expires_at,
                                         tags, pinned, archived, legal_hold)
    values (
      v_id,
      (p_export ->> 'user_id')::uuid,
      coalesce(nullif(p_export -> 'metadata', 'null'::jsonb), '{}'::jsonb),
      v_ttl,
      v_created,
      -- A restored conversation never comes back already expired; a held one is held again.
      case when v_held then private.held_until()
           else greatest(v_expires, now() + make_interval(hours => v_ttl)) end,
      array(select jsonb_array_elements_text(nullif(p_export -> 'tags', 'null'::jsonb))),
      coalesce((p_export ->> 'pinned')::boolean, false),
      coalesce((p_export ->> 'archived')::boolean, false),
      v_held)
    returning * into v_row;
  exception when unique_violation then
    raise exception 'conversation % already exists', v_id using errcode = '23505';
  end;

  -- The messages keep their seq, and their id unless another message has it (a copy imported
  -- under another conversation id gets new ones, as a fork's copies do); their ratings follow.
  perform set_config('private.copying_into', v_id, true);
  insert into public.ai_conversation_messages (id, conversation_id, seq, role, content, metadata, idempotency_key, created_at)
  select case when (e ->> 'id') is null
                or exists (select 1 from public.ai_conversation_messages m where m.id = (e ->> 'id')::uuid)
              then gen_random_uuid() else (e ->> 'id')::uuid end,
         v_id, (e ->> 'seq')::bigint, e ->> 'role', e ->> 'content',
         coalesce(nullif(e -> 'metadata', 'null'::jsonb), '{}'::jsonb), e ->> 'idempotency_key',
         coalesce((e ->> 'created_at')::timestamptz, now())
    from jsonb_array_elements(v_messages) with ordinality as x(e, n)
   order by (e ->> 'seq')::bigint nulls last, n;
  insert into public.ai_message_feedback (conversation_id, seq, user_id, rating, comment, created_at, updated_at)
  select v_id, (e ->> 'seq')::bigint, (f ->> 'user_id')::uuid, (f ->> 'rating')::smallint, f ->> 'comment',
         coalesce((f ->> 'created_at')::timestamptz, now()),
         coalesce((f ->> 'updated_at')::timestamptz, (f ->> 'created_at')::timestamptz, now())
    from jsonb_array_elements(v_messages) e,
         jsonb_array_elements(coalesce(nullif(e -> 'feedback', 'null'::jsonb), '[]'::jsonb)) f;

  -- What the inserts maintain for a new conversation, set to the document's.
  update public.ai_conversations c
     set updated_at = v_updated,
         last_seq = greatest(c.last_seq, coalesce(v_last_seq, 0)),
         title = case when p_export ? 'title' then p_export ->> 'title' else c.title end
   where c.conversation_id = v_id;
  perform set_config('private.copying_into', '', true);

  return private.conversation_json(private.live_conversation(v_id))::json;
end
$$;
comment on function public.import_conversation(jsonb) is
  'Restores an export_conversation() document: the conversation''s fields (title, tags, pinned, '
  'archived, legal_hold, last_seq, timestamps), its messages with their seq, id and timestamps, '
  'and their ratings; timestamps are checked (22023). 23505 when a live conversation with that id '
  'exists. Documents of the earlier shape import too.';
