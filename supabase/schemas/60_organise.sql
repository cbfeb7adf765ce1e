-- Organising a history: titles, archive, pins and tags on every conversation (the columns:
-- 30_tables.sql), the one call that changes them (update_conversation, PATCH
-- /conversations/{id}), and the listing with its filters (archived, pinned, tags, metadata
-- containment) and a preview of each conversation's last message.

-- A conversation without a title takes it from its first user message (the append trigger,
-- 40_append.sql, computes it only while the title is null).
create function private.title_from_content(p_content text)
returns text
language sql
immutable
begin atomic
  select nullif(btrim(left(btrim(substring(p_content from '[^[:space:]][^\r\n]*'), e' \t\f\v'), 80), e' \t\f\v'), '');
end;
comment on function private.title_from_content(text) is
  'A title from a message: its first non-blank line, trimmed, at most 80 characters (null when blank). '
  'Inlined by the planner.';

create function public.update_conversation(p_conversation_id text, p_changes jsonb)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_fields constant text[] := array['title', 'metadata', 'metadata_patch', 'archived', 'pinned', 'tags', 'legal_hold'];
  v_set text[] := '{}';
  v_unknown text;
  v_tags text[];
  v_drop text[];
  v_row public.ai_conversations;
begin
  if jsonb_typeof(p_changes) is distinct from 'object' then
    raise exception 'changes must be a JSON object' using errcode = '22023';
  end if;
  select k into v_unknown from jsonb_object_keys(p_changes) k where k <> all (v_fields) limit 1;
  if v_unknown is not null then
    raise exception 'unknown field %; expected one of %', v_unknown, array_to_string(v_fields, ', ')
      using errcode = '22023';
  end if;
  if p_changes ? 'legal_hold' and auth.role() in ('anon', 'authenticated') then
    raise exception 'only the service may set or clear a legal hold' using errcode = '42501';
  end if;
  if p_changes ? 'metadata' and p_changes ? 'metadata_patch' then
    raise exception 'send metadata (replace) or metadata_patch (merge), not both' using errcode = '22023';
  end if;
  if jsonb_typeof(p_changes -> 'title') not in ('string', 'null') then
    raise exception 'title must be a string or null' using errcode = '22023';
  end if;
  if jsonb_typeof(p_changes -> 'metadata') <> 'object' or jsonb_typeof(p_changes -> 'metadata_patch') <> 'object' then
    raise exception 'metadata and metadata_patch must be JSON objects' using errcode = '22023';
  end if;
  if jsonb_typeof(p_changes -> 'archived') <> 'boolean' or jsonb_typeof(p_changes -> 'pinned') <> 'boolean'
     or jsonb_typeof(p_changes -> 'legal_hold') <> 'boolean' then
    raise exception 'archived, pinned and legal_hold must be true or false' using errcode = '22023';
  end if;
  if p_changes ? 'tags' then
    if jsonb_typeof(p_changes -> 'tags') <> 'array'
       or exists (select 1 from jsonb_array_elements(p_changes -> 'tags') e where jsonb_typeof(e) <> 'string') then
      raise exception 'tags must be an array of strings' using errcode = '22023';
    end if;
    -- Duplicates collapse to their first occurrence; the table's check rejects the rest.
    select coalesce(array_agg(t order by n), '{}') into v_tags
      from (select t, min(n) as n from jsonb_array_elements_text(p_changes -> 'tags') with ordinality e(t, n)
             group by t) d;
    if not private.tags_are_valid(v_tags) then
      raise exception 'tags: at most 20, each 1 to 50 characters' using errcode = '22023';
    end if;
  end if;

  -- Only the columns asked for are written: a user's update never names legal_hold (a column
  -- users hold no privilege on, so a direct client cannot set it either).
  if p_changes ? 'title' then v_set := array_append(v_set, 'title = $2'); end if;
  if p_changes ? 'metadata' then v_set := array_append(v_set, 'metadata = $3'); end if;
  if p_changes ? 'metadata_patch' then
    -- The merge rule: top-level keys of the patch replace the stored ones; a null removes the key.
    select coalesce(array_agg(e.key), '{}') into v_drop
      from jsonb_each(p_changes -> 'metadata_patch') e where e.value = 'null'::jsonb;
    v_set := array_append(v_set, 'metadata = (c.metadata || $3) - $7');
  end if;
  if p_changes ? 'archived' then v_set := array_append(v_set, 'archived = $4'); end if;
  if p_changes ? 'pinned' then v_set := array_append(v_set, 'pinned = $5'); end if;
  if p_changes ? 'tags' then v_set := array_append(v_set, 'tags = $6'); end if;
  if p_changes ? 'legal_hold' then v_set := array_append(v_set, 'legal_hold = $8'); end if;

  if cardinality(v_set) = 0 then
    return private.conversation_json(private.live_conversation(p_conversation_id));
  end if;
  execute format(
    'update public.ai_conversations c set %s where c.conversation_id = $1 and c.expires_at > now() returning c.*',
    array_to_string(v_set, ', '))
    into v_row
    using p_conversation_id,
          nullif(btrim(p_changes ->> 'title'), ''),
          coalesce(p_changes -> 'metadata', p_changes -> 'metadata_patch'),
          (p_changes ->> 'archived')::boolean,
          (p_changes ->> 'pinned')::boolean,
          v_tags,
          v_drop,
          (p_changes ->> 'legal_hold')::boolean;
  if v_row.conversation_id is null then
    perform private.not_found(p_conversation_id);
  end if;
  return private.conversation_json(v_row);
end
$$;
comment on function public.update_conversation(text, jsonb) is
  'Changes a live conversation: the keys present in p_changes are written, the others kept. '
  'title (string; null or blank clears it), metadata (replaces the object), metadata_patch (merges: '
  'its top-level keys replace the stored ones, a null value removes the key), archived, pinned, '
  'tags (array of strings; duplicates dropped), legal_hold (service only: 42501 for users). '
  'Unknown keys and wrong types are 22023; a conversation unknown, expired or not the caller''s is P0002.';

create function public.list_conversations(
  p_user_id uuid default null,
  p_limit integer default 10,
  p_cursor text default null,
  p_archived boolean default false,
  p_pinned boolean default null,
  p_tags text[] default null,
  p_metadata jsonb default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_user uuid;
  v_pinned boolean;
  v_ts timestamptz;
  v_id uuid;
  v_where text := 'c.expires_at > now()';
  v_page public.ai_conversations[];
  v_last public.ai_conversations;
  v_next text;
begin
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  v_user := private.scope_user(p_user_id, 'list');
  if p_metadata is not null and jsonb_typeof(p_metadata) <> 'object' then
    raise exception 'metadata must be a JSON object' using errcode = '22023';
  end if;
  if p_cursor is not null then
    begin
      v_pinned := split_part(p_cursor, '.', 1)::integer::boolean;
      v_ts := timestamptz 'epoch' + (split_part(p_cursor, '.', 2)::bigint || ' microseconds')::interval;
      v_id := split_part(p_cursor, '.', 3)::uuid;
    exception when others then
      raise exception 'malformed cursor' using errcode = '22023';
    end;
  end if;

  -- Only the filters asked for reach the planner, each as a plain predicate it can match to an
  -- index: the owner and the flags to the list indexes (whose order is the listing's), tags to
  -- the partial GIN index (its predicate stated, so the planner may use it).
  if v_user is not null then v_where := v_where || ' and c.user_id = $1'; end if;
  if p_archived is not null then v_where := v_where || ' and c.archived = $2'; end if;
  if p_pinned is not null then v_where := v_where || ' and c.pinned = $3'; end if;
  if p_tags is not null then v_where := v_where || ' and c.tags @> $4 and c.tags <> ''{}'''; end if;
  if p_metadata is not null then v_where := v_where || ' and c.metadata @> $5'; end if;
  if p_cursor is not null then v_where := v_where || ' and (c.pinned, c.updated_at, c.id) < ($6, $7, $8)'; end if;
  -- One row more than asked tells whether a next page exists.
  execute format(
    'select array_agg(p order by p.pinned desc, p.updated_at desc, p.id desc)
       from (select * from public.ai_conversations c where %s
              order by c.pinned desc, c.updated_at desc, c.id desc limit $9) p', v_where)
    into v_page
    using v_user, p_archived, p_pinned, p_tags, p_metadata, v_pinned, v_ts, v_id, p_limit + 1;
  if coalesce(array_length(v_page, 1), 0) > p_limit then
    v_last := v_page[p_limit];
    v_next := v_last.pinned::integer::text || '.'
              || ((extract(epoch from v_last.updated_at) * 1000000)::bigint)::text || '.' || v_last.id::text;
  end if;
  return json_build_object(
    'conversations', (
      select coalesce(json_agg(private.json_concat(private.conversation_json(v_page[i]), json_build_object(
               'last_message', (select json_build_object('role', m.role, 'content', left(m.content, 200), 'created_at', m.created_at)
                                  from public.ai_conversation_messages m
                                 where m.conversation_id = (v_page[i]).conversation_id
                                 order by m.seq desc limit 1))) order by i), '[]'::json)
        from generate_subscripts(v_page, 1) i
       where i <= p_limit),
    'next_cursor', v_next);
end
$$;
comment on function public.list_conversations(uuid, integer, text, boolean, boolean, text[], jsonb) is
  'Live conversations, pinned first, then most recently updated, keyset-paginated by an opaque '
  'cursor; each with last_message (role, first 200 characters, created_at; null when empty). '
  'Filters: p_archived (default false: archived ones hidden; true: only those; null: both), '
  'p_pinned, p_tags (all must match), p_metadata (JSON containment). Users see only their own '
  '(42501 when naming another user); the service sees one user''s or all.';
