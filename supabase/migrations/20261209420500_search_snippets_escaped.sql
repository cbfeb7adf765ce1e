-- Issue 22 (attack round), item 11: search snippets are HTML.
--
-- A snippet marks the matched words with <mark>...</mark>, so clients render it as HTML (that is
-- what the tags are for); but the text around the tags was the message's raw content, so a
-- message holding <img src=x onerror=...> ran in every client that did. The snippet is now HTML
-- whose only tags are <mark> and </mark>: the content is escaped (& < > " ' as entities) and the
-- highlights are put in after. The words matched, ranks and pages are unchanged. Clients that
-- read the snippet as text unescape those five entities (the web client does).
--
-- The rest of private.search_hits is as released in 20261204100100_search.sql.

create function private.html_escape(p_text text)
returns text
language sql
immutable
begin atomic
  select replace(replace(replace(replace(replace(p_text, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                         '"', '&quot;'), '''', '&#39;');
end;
comment on function private.html_escape(text) is
  'Text as HTML text: & < > " and '' as entities. Inlined by the planner.';

create or replace function private.search_hits(
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

revoke all on function private.html_escape(text) from public, anon, authenticated, service_role;
grant execute on function private.html_escape(text) to authenticated, service_role;
