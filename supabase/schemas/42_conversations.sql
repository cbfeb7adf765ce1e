-- A conversation: create, read (with its messages), extend, clear, delete.
--
-- The RPC functions are security invoker (RLS decides what a user sees) with an empty
-- search_path, return JSON (the same text over PostgREST and over a direct connection), and
-- treat an expired conversation exactly like a missing one (P0002). Error codes: see
-- 20_rule_helpers.sql.

-- Helpers ---------------------------------------------------------------------------------------
-- The conversation's JSON shape: json (not jsonb) without a SET clause, so it is inlined and
-- get_conversation, the hot read, can use it: built as text, in declared key order, at a third
-- of jsonb's cost. Stable, not immutable: timestamptz to JSON depends on the session's TimeZone.
-- row_id names the row: ids are reused once a conversation is deleted or expires, and a live
-- stream is bound to the row it authorised, never to the next conversation of its id.
create function private.conversation_json(c public.ai_conversations)
returns json
language sql
stable
begin atomic
  select json_build_object(
    'conversation_id', c.conversation_id,
    'row_id', c.id,
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
comment on function private.conversation_json(public.ai_conversations) is
  'A conversation as the store''s readers answer it; row_id names the row (ids are reused after '
  'deletion or expiry), so a live stream can tell its conversation from a later one of the same id.';

create function private.live_conversation(p_conversation_id text)
returns public.ai_conversations
language plpgsql
stable
set search_path = ''
as $$
declare
  v_row public.ai_conversations;
begin
  select * into v_row from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  return v_row;
end
$$;
comment on function private.live_conversation(text) is
  'The caller-visible, unexpired conversation, or P0002: one answer for missing, expired and foreign.';

-- An expired conversation is gone for every caller, but its row stays until cleanup runs. RLS
-- hides it from its owner too, so a user's own delete cannot free the id: this helper removes
-- that one expired row (and, by cascade, its messages) whoever asks. It touches nothing live.
create function private.purge_expired_conversation(p_conversation_id text)
returns void
language sql
security definer
set search_path = ''
as $$
  delete from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at <= now()
$$;
comment on function private.purge_expired_conversation(text) is
  'Deletes the conversation with this id if it has expired, so the id can be created again before cleanup.';

-- Create ----------------------------------------------------------------------------------------
-- Ids are one namespace (conversation_id is unique across owners, the messages' foreign key),
-- so whether an id can be created is, for anyone who may choose one, an answer about everyone
-- else's ids. The service chooses any id (it sees every conversation anyway); a user gets a
-- generated one, and naming an id answers 409 only for its own live conversation and 42501 for
-- every other id, taken or free (the insert trigger holds the rule, so a direct insert through
-- PostgREST answers the same).
create function public.create_conversation(
  p_conversation_id text default null,
  p_user_id uuid default null,
  p_metadata jsonb default '{}'::jsonb,
  p_ttl_hours integer default null
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_id text := p_conversation_id;  -- null: the insert trigger generates one
  v_user uuid := coalesce(p_user_id, auth.uid());
  v_row public.ai_conversations;
begin
  if auth.role() in ('anon', 'authenticated') and v_user is distinct from auth.uid() then
    raise exception 'a user may only create conversations for itself' using errcode = '42501';
  end if;
  if p_ttl_hours is not null and p_ttl_hours < 1 then
    raise exception 'ttl_hours must be at least 1' using errcode = '22023';
  end if;
  -- An expired conversation not yet cleaned up does not keep its id taken (ids users name are
  -- refused by the insert trigger, so they never purge anything).
  if v_id is not null and coalesce(auth.role(), '') not in ('anon', 'authenticated') then
    perform private.purge_expired_conversation(v_id);
  end if;
  begin
    insert into public.ai_conversations (conversation_id, user_id, metadata, ttl_hours)
    values (v_id, v_user, coalesce(p_metadata, '{}'::jsonb), p_ttl_hours)
    returning * into v_row;
  exception when unique_violation then
    raise exception 'conversation % already exists', v_id using errcode = '23505';
  end;
  return private.conversation_json(v_row);
end
$$;
comment on function public.create_conversation(text, uuid, jsonb, integer) is
  'Creates a conversation owned by p_user_id, or by the calling user. The service may choose the '
  'id (23505 if a live conversation has it); a user''s is generated (naming one: 23505 for its own '
  'live conversation, 42501 otherwise). TTL defaults to the settings value.';

-- Read ------------------------------------------------------------------------------------------
-- The two message readers put the caller's own rating on each message it rated, as
-- messages[].feedback {rating, comment, user_id, created_at, updated_at} (the object that
-- set_message_feedback answers, 70_feedback.sql); a message the caller did not rate has no
-- feedback key. Other raters' ratings are never merged into a message: the service reads them
-- all in ai_message_feedback and ai_feedback_by_model_day.
--
-- The hot read stays one statement when nobody ever rated anything in the conversation: the
-- flag ai_conversations.rated, set by a trigger on the first rating (never cleared: a withdrawn
-- rating leaves it on, which costs only the slower branch, never a wrong answer), is read with
-- the conversation row. The conversation row and the page of an unrated conversation are one
-- statement (the page a sub-select of the conversation lookup); a rated one takes a second
-- statement that reads the caller's ratings there once (one index range scan, materialized;
-- under RLS a user sees only its own) and joins the page to them in memory.
--
-- Measured with callgrind (instructions per call of a prepared statement) and pgbench:
-- * Generic plans, always (plan_cache_mode): left to itself the plan cache compares the generic
--   plan's estimate with the custom plans' and, with some statistics (one conversation of
--   20,000 messages among 200 of 50 is enough), keeps planning every call: 978k instructions a
--   get_messages call where the generic plan costs 622k (get_conversation: 1,261k, 938k). Every
--   statement here is an index probe by equality or a range bounded by parameters, whose
--   generic plan is the plan.
-- * `seq < coalesce(p_before_seq, <max>)`, not `p_before_seq is null or seq < p_before_seq`: the
--   generic plan then bounds the index scan by the cursor instead of filtering every newer
--   message, so an old page of a long conversation costs what the newest one does (48 us a call
--   instead of 110 us for pages before seq 100-300 of a 20,000-message conversation).
-- * get_messages' page is array_to_json(array(... order by seq)): an ARRAY sub-select over a
--   sorted subquery, not json_agg(... order by): no aggregate node to start per call.
create function public.get_messages(
  p_conversation_id text,
  p_limit integer default 10,
  p_before_seq bigint default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_rated boolean;
  v_page json;
begin
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  select c.rated,
         case when not c.rated then array_to_json(array(
           select h from (select * from public.ai_conversation_messages m
                           where m.conversation_id = p_conversation_id
                             and m.seq < coalesce(p_before_seq, 9223372036854775807)
                           order by m.seq desc
                           limit p_limit) h
            order by h.seq)) end
    into v_rated, v_page
    from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if v_page is not null then
    return v_page;
  end if;
  if v_rated is null then
    perform private.not_found(p_conversation_id);
  end if;
  return array_to_json(array(
    with f as materialized (
      select * from public.ai_message_feedback f
       where f.conversation_id = p_conversation_id and f.user_id is not distinct from (select auth.uid())
         and f.seq < coalesce(p_before_seq, 9223372036854775807))
    select case when f.rating is null then to_json(h)
                else private.json_concat(to_json(h), json_build_object('feedback', json_build_object(
                       'rating', f.rating, 'comment', f.comment, 'user_id', f.user_id,
                       'created_at', f.created_at, 'updated_at', f.updated_at))) end
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = p_conversation_id
               and m.seq < coalesce(p_before_seq, 9223372036854775807)
             order by m.seq desc
             limit p_limit) h
      left join f on f.seq = h.seq
     order by h.seq));
end
$$;
comment on function public.get_messages(text, integer, bigint) is
  'The newest p_limit messages (or those before seq p_before_seq), oldest first; a message the '
  'caller rated carries feedback {rating, comment, user_id, created_at, updated_at}.';

create function public.get_conversation(
  p_conversation_id text,
  p_message_limit integer default 50,
  p_before_seq bigint default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_rated boolean;
  v_conversation json;
begin
  perform private.check_limit('limit', p_message_limit, 0, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  -- A limit of 0 reads no message (the Limit node never starts its scan): messages [], no cursor.
  -- seq numbers are gapless but a clear leaves a hole below: the cursor asks the index, not arithmetic.
  select c.rated,
         case when not c.rated then private.json_concat(private.conversation_json(c), (
           select json_build_object(
                    'messages', coalesce(json_agg(h order by h.seq), '[]'::json),
                    'next_cursor', case when min(h.seq) > 1 and exists (
                                     select 1 from public.ai_conversation_messages o
                                      where o.conversation_id = p_conversation_id and o.seq < min(h.seq))
                                   then min(h.seq) end)
             from (select * from public.ai_conversation_messages m
                    where m.conversation_id = p_conversation_id
                      and m.seq < coalesce(p_before_seq, 9223372036854775807)
                    order by m.seq desc
                    limit p_message_limit) h)) end
    into v_rated, v_conversation
    from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if v_conversation is not null then
    return v_conversation;
  end if;
  if v_rated is null then
    perform private.not_found(p_conversation_id);
  end if;
  return (
    with f as materialized (
      select * from public.ai_message_feedback f
       where f.conversation_id = p_conversation_id and f.user_id is not distinct from (select auth.uid())
         and f.seq < coalesce(p_before_seq, 9223372036854775807))
    select private.json_concat(private.conversation_json(c), (
             select json_build_object(
                      'messages', coalesce(json_agg(case when f.rating is null then to_json(h)
                                    else private.json_concat(to_json(h), json_build_object('feedback', json_build_object(
                                           'rating', f.rating, 'comment', f.comment, 'user_id', f.user_id,
                                           'created_at', f.created_at, 'updated_at', f.updated_at))) end order by h.seq), '[]'::json),
                      'next_cursor', case when min(h.seq) > 1 and exists (
                                       select 1 from public.ai_conversation_messages o
                                        where o.conversation_id = p_conversation_id and o.seq < min(h.seq))
                                     then min(h.seq) end)
               from (select * from public.ai_conversation_messages m
                      where m.conversation_id = p_conversation_id
                        and m.seq < coalesce(p_before_seq, 9223372036854775807)
                      order by m.seq desc
                      limit p_message_limit) h
               left join f on f.seq = h.seq))
      from public.ai_conversations c
     where c.conversation_id = p_conversation_id and c.expires_at > now());
end
$$;
comment on function public.get_conversation(text, integer, bigint) is
  'A conversation with its newest p_message_limit messages (0: none) before p_before_seq, oldest '
  'first, each the caller rated with its feedback {rating, comment, user_id, created_at, updated_at}; '
  'next_cursor is the seq to pass as p_before_seq for the previous page, or null.';

-- Change ----------------------------------------------------------------------------------------
create function public.extend_conversation(p_conversation_id text, p_hours integer default 24)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_expires timestamptz;
begin
  perform private.check_limit('hours', p_hours, 1, s.max_ttl_hours)
     from public.ai_conversation_settings s where s.id;
  update public.ai_conversations c
     set expires_at = c.expires_at + make_interval(hours => p_hours)
   where c.conversation_id = p_conversation_id and c.expires_at > now()
  returning c.expires_at into v_expires;
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  return json_build_object('conversation_id', p_conversation_id, 'expires_at', v_expires);
end
$$;
comment on function public.extend_conversation(text, integer) is
  'Moves expires_at p_hours later (at most max_ttl_hours from now).';

create function public.clear_conversation(p_conversation_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_cleared bigint;
begin
  perform private.live_conversation(p_conversation_id);
  delete from public.ai_conversation_messages m where m.conversation_id = p_conversation_id;
  get diagnostics v_cleared = row_count;
  return json_build_object('conversation_id', p_conversation_id, 'cleared', v_cleared);
end
$$;
comment on function public.clear_conversation(text) is
  'Deletes every message of a conversation and keeps the conversation; seq numbers are never reused.';

create function public.delete_conversation(p_conversation_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
begin
  delete from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  return json_build_object('conversation_id', p_conversation_id, 'deleted', true);
end
$$;
comment on function public.delete_conversation(text) is 'Deletes a conversation and its messages.';
