-- Full-text search over a user's own messages.
--
-- Messages carry their conversation's owner (user_id, set by the append trigger from the row it
-- already locks), so the search index can start with the owner: a GIN index over
-- (user_id, to_tsvector(config, content)) (btree_gin gives uuid a GIN operator class;
-- ai_conversation_messages_search_idx in 30_tables.sql), and a user's search intersects that
-- user's posting list with the query's, never reading another user's rows. The text-search
-- configuration is a database setting (search_config, default 'simple': language-neutral);
-- changing it rebuilds the index.
create function private.rebuild_search_index()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  drop index if exists public.ai_conversation_messages_search_idx;
  execute format(
    'create index ai_conversation_messages_search_idx on public.ai_conversation_messages '
    'using gin (user_id, to_tsvector(%L::regconfig, content))', new.search_config::text);
  comment on index public.ai_conversation_messages_search_idx is
    'Full-text search, owner first; its configuration follows ai_conversation_settings.search_config.';
  return null;
end
$$;
comment on function private.rebuild_search_index() is
  'Recreates the search index for a new search_config (locks the messages table while it builds).';
create trigger rebuild_search_index after update of search_config on public.ai_conversation_settings
  for each row when (new.search_config is distinct from old.search_config)
  execute function private.rebuild_search_index();

-- The hits, with the ownership rule applied here rather than by RLS. Why security definer: under
-- RLS, PostgreSQL evaluates a query's non-leakproof conditions only after the policies' own, and
-- the text-search match (@@) is not leakproof, so a user's search could not be an index
-- condition: it would read every message the user owns and match each one (600 ms for a user
-- with 10,000 messages, where the index answers in a few). This helper states the policies'
-- rule itself (private.is_own_live for a user, live conversations for the service) and refuses
-- a user asking for anyone else; public.search_messages is the API.
create function private.search_hits(
  p_config text,
  p_query text,
  p_user_id uuid,
  p_after_rank real,
  p_after_id uuid,
  p_limit integer
)
returns table (id uuid, conversation_id text, title text, seq bigint, role text, created_at timestamptz,
               rank real, snippet text)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if current_setting('role') in ('anon', 'authenticated')
     and (p_user_id is null or p_user_id is distinct from auth.uid()) then
    raise exception 'a user may only search its own conversations' using errcode = '42501';
  end if;
  -- The configuration is written into the statement as a constant, so the planner matches the
  -- index expression; the owner is an index condition too (the service searching everyone uses
  -- the index's second column alone). Ranked by ts_rank, then id; snippets (ts_headline, the
  -- costly part) only for the page: highlighted with control characters the content cannot then
  -- hold (translated to spaces first), HTML-escaped, then the highlights made <mark> tags.
  return query execute format($sql$
    with hits as (
      select m.id, m.conversation_id::text, c.title, m.seq, m.role, m.created_at, m.content,
             ts_rank(to_tsvector(%1$L::regconfig, m.content), websearch_to_tsquery(%1$L::regconfig, $1)) as rank
        from public.ai_conversation_messages m
        join public.ai_conversations c on c.conversation_id = m.conversation_id
       where to_tsvector(%1$L::regconfig, m.content) @@ websearch_to_tsquery(%1$L::regconfig, $1)
         and %2$s
    )
    select h.id, h.conversation_id, h.title, h.seq, h.role, h.created_at, h.rank,
           replace(replace(private.html_escape(
             ts_headline(%1$L::regconfig, translate(h.content, chr(1) || chr(2), '  '),
                         websearch_to_tsquery(%1$L::regconfig, $1),
                         'StartSel=' || chr(1) || ', StopSel=' || chr(2) || ', MaxWords=24, MinWords=8, MaxFragments=2')),
             chr(1), '<mark>'), chr(2), '</mark>')
      from (select * from hits
             where $3::real is null or (hits.rank, hits.id) < ($3, $4)
             order by hits.rank desc, hits.id desc
             limit $5) h
     order by h.rank desc, h.id desc
    $sql$, p_config,
    case when p_user_id is not null
         then 'm.user_id = $2 and private.is_own_live(c.user_id, c.expires_at, $2)'
         else 'c.expires_at > now()' end)
    using p_query, p_user_id, p_after_rank, p_after_id, p_limit;
end
$$;
comment on function private.search_hits(text, text, uuid, real, uuid, integer) is
  'The ranked hits of search_messages(): p_user_id''s live conversations (a user only its own: '
  '42501 otherwise), or every live one for the service (p_user_id null), each with a snippet in '
  'HTML: the content escaped, the matched words in <mark> tags. Security definer so the match is an '
  'index condition (see the comment above it).';

create function public.search_messages(
  p_query text,
  p_user_id uuid default null,
  p_limit integer default 20,
  p_cursor text default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_user uuid;
  v_config text;
  v_rank real;
  v_id uuid;
  v_hits json;
  v_next text;
begin
  select s.search_config::text into v_config from public.ai_conversation_settings s where s.id;
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  if p_query is null or btrim(p_query) = '' or char_length(p_query) > 1000 then
    raise exception 'q must be 1 to 1000 characters, not blank' using errcode = '22023';
  end if;
  v_user := private.scope_user(p_user_id, 'search');
  if p_cursor is not null then
    begin
      v_rank := split_part(p_cursor, ':', 1)::real;
      v_id := split_part(p_cursor, ':', 2)::uuid;
    exception when others then
      raise exception 'malformed cursor' using errcode = '22023';
    end;
  end if;
  -- One hit more than asked tells whether a next page exists; the cursor is the last one shown.
  select json_agg(json_build_object(
           'conversation_id', h.conversation_id, 'title', h.title, 'seq', h.seq, 'role', h.role,
           'created_at', h.created_at, 'rank', h.rank, 'snippet', h.snippet) order by h.n) filter (where h.n <= p_limit),
         max(h.rank::text || ':' || h.id::text) filter (where h.n = p_limit and h.total > p_limit)
    into v_hits, v_next
    from (select x.*, row_number() over (order by x.rank desc, x.id desc) as n, count(*) over () as total
            from private.search_hits(v_config, p_query, v_user, v_rank, v_id, p_limit + 1) x) h;
  return json_build_object('hits', coalesce(v_hits, '[]'::json), 'next_cursor', v_next);
end
$$;
comment on function public.search_messages(text, uuid, integer, text) is
  'Full-text search (websearch syntax: words, "phrases", or, -not) over messages of live '
  'conversations, best match first: conversation_id, title, seq, role, created_at, rank and a '
  'snippet with <mark> highlights. Users search their own (42501 when naming another user); the '
  'service searches one user''s (p_user_id) or everyone''s. Keyset-paginated by next_cursor.';
