-- Organising a history, part 1: titles, archive, pins, tags and the legal-hold flag on every
-- conversation; the one call that changes them (update_conversation, PATCH /conversations/{id});
-- and the listing's filters (archived, pinned, tags, metadata containment) with a preview of
-- each conversation's last message. The legal hold's rules come in their own migration.

create function private.tags_are_valid(p_tags text[])
returns boolean
language sql
immutable
begin atomic
  select cardinality(p_tags) <= 20
     and array_position(p_tags, null) is null
     and not exists (select 1 from unnest(p_tags) t where char_length(t) not between 1 and 50);
end;
comment on function private.tags_are_valid(text[]) is
  'The tag rule: at most 20 tags, none null, each 1 to 50 characters.';

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

-- Whose rows a listing, search or report covers: a user only its own (naming anyone else is
-- 42501; a token without sub gets the nil uuid, which owns nothing, never "everyone"), the
-- service the user it names, or everyone (null).
create function private.scope_user(p_user_id uuid, p_what text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  if auth.role() in ('anon', 'authenticated') then
    if p_user_id is not null and p_user_id is distinct from auth.uid() then
      raise exception 'a user may only % its own conversations', p_what using errcode = '42501';
    end if;
    return coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000');
  end if;
  return p_user_id;
end
$$;
comment on function private.scope_user(uuid, text) is
  'The user whose rows a call covers: the caller for users (42501 when naming another), p_user_id '
  'for the service (null: everyone).';

alter table public.ai_conversations
  add column title text
    constraint ai_conversations_title_length check (char_length(title) between 1 and 200),
  add column archived boolean not null default false,
  add column pinned boolean not null default false,
  add column tags text[] not null default '{}'
    constraint ai_conversations_tags_valid check (private.tags_are_valid(tags)),
  add column legal_hold boolean not null default false;
comment on column public.ai_conversations.title is
  'Title (1 to 200 characters); when none is set, the first user message sets it (private.title_from_content).';
comment on column public.ai_conversations.archived is 'Hidden from listings unless asked for (archived = true).';
comment on column public.ai_conversations.pinned is 'Listed before the unpinned ones.';
comment on column public.ai_conversations.tags is 'Labels to filter by: at most 20, each 1 to 50 characters, no duplicates.';
comment on column public.ai_conversations.legal_hold is
  'Set and cleared by the service only: a held conversation never expires and is never deleted '
  '(not by its user, cleanup or erasure).';

-- Conversations stored before this release get the title their first user message gives (the
-- touch trigger is off for it: a backfill is not a change, updated_at stays).
alter table public.ai_conversations disable trigger touch_conversation;
update public.ai_conversations c
   set title = private.title_from_content(f.content)
  from (select distinct on (m.conversation_id) m.conversation_id, m.content
          from public.ai_conversation_messages m
         where m.role = 'user'
         order by m.conversation_id, m.seq) f
 where f.conversation_id = c.conversation_id and c.title is null;
alter table public.ai_conversations enable trigger touch_conversation;

-- The listing's order (pinned first, then most recently updated) as index order, for one user
-- and for the service's all-users listing; both replace the two listing indexes of release 1.
create index ai_conversations_user_list_idx
  on public.ai_conversations (user_id, archived, pinned, updated_at, id);
create index ai_conversations_list_idx
  on public.ai_conversations (archived, pinned, updated_at, id);
drop index public.ai_conversations_user_recent_idx;
drop index public.ai_conversations_recent_idx;
-- Partial: every append updates its conversation (updated_at), and an untagged row then costs
-- this index nothing.
create index ai_conversations_tags_idx
  on public.ai_conversations using gin (tags) where tags <> '{}';

grant update (title, archived, pinned, tags) on public.ai_conversations to authenticated;
grant insert (title) on public.ai_conversations to authenticated;

-- The conversation's JSON shape, now with the organising fields (still inlined, still json).
create or replace function private.conversation_json(c public.ai_conversations)
returns json
language sql
stable
begin atomic
  select json_build_object(
    'conversation_id', c.conversation_id,
    'user_id', c.user_id,
    'title', c.title,
    'metadata', c.metadata,
    'archived', c.archived,
    'pinned', c.pinned,
    'tags', c.tags,
    'legal_hold', c.legal_hold,
    'ttl_hours', c.ttl_hours,
    'message_count', c.message_count,
    'last_seq', c.last_seq,
    'created_at', c.created_at,
    'updated_at', c.updated_at,
    'expires_at', c.expires_at);
end;

-- update ------------------------------------------------------------------------------------------
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

-- list --------------------------------------------------------------------------------------------
drop function public.list_conversations(uuid, integer, text);
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
