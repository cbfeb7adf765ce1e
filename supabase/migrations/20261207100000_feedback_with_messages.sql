-- Governing a history, part 1 continued: feedback returned with the message. The two message
-- readers (get_messages, get_conversation) put the caller's own rating on each message it rated,
-- as messages[].feedback {rating, comment, user_id, created_at, updated_at} (the object that
-- set_message_feedback answers); a message the caller did not rate has no feedback key.
--
-- Whose rating: the caller's own, the one it sets with set_message_feedback and withdraws with
-- delete_message_feedback: a user's (RLS lets a user read no one else's), the service's own
-- (user_id null) for the service. Other raters' ratings are never merged into a message: the
-- service reads them all in ai_message_feedback and ai_feedback_by_model_day.
--
-- The hot read stays as it was when nobody ever rated anything in the conversation: the flag
-- ai_conversations.rated, set by a trigger on the first rating (never cleared: a withdrawn
-- rating leaves it on, which costs only the slower branch, never a wrong answer), is read with
-- the conversation row the readers already fetch. A rated conversation takes the branch that
-- reads the caller's ratings there once (one index range scan, materialized; under RLS a user
-- sees only its own) and joins the page to them in memory.
-- Export is unchanged: it is the restorable shape that import_conversation reads, and ratings
-- belong to their raters, not to the conversation being moved.
-- Otherwise as in release 2 (20261201100200).

alter table public.ai_conversations add column rated boolean not null default false;
comment on column public.ai_conversations.rated is
  'Someone has rated a message of this conversation (set by the first rating, never cleared): '
  'the message readers join ratings only then.';
update public.ai_conversations c set rated = true
 where exists (select 1 from public.ai_message_feedback f where f.conversation_id = c.conversation_id);

-- Security definer: the rater (a user) may not update the conversation row; the flag is set once.
create function private.mark_conversation_rated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.ai_conversations c set rated = true
   where c.conversation_id = new.conversation_id and not c.rated;
  return null;
end
$$;
comment on function private.mark_conversation_rated() is
  'Sets ai_conversations.rated on a conversation''s first rating.';
revoke all on function private.mark_conversation_rated() from public, anon, authenticated, service_role;
create trigger mark_conversation_rated after insert on public.ai_message_feedback
  for each row execute function private.mark_conversation_rated();

create or replace function public.get_messages(
  p_conversation_id text,
  p_limit integer default 10,
  p_before_seq bigint default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_rated boolean;
begin
  -- Hot: the checks are inlined helpers in one statement each, no nested call.
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  select c.rated into v_rated from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  if not v_rated then
    return (
      select coalesce(json_agg(h order by h.seq), '[]'::json)
        from (select * from public.ai_conversation_messages m
               where m.conversation_id = p_conversation_id
                 and (p_before_seq is null or m.seq < p_before_seq)
               order by m.seq desc
               limit p_limit) h);
  end if;
  return (
    with f as materialized (
      select * from public.ai_message_feedback f
       where f.conversation_id = p_conversation_id and f.user_id is not distinct from (select auth.uid())
         and (p_before_seq is null or f.seq < p_before_seq))
    select coalesce(json_agg(case when f.rating is null then to_json(h)
                             else private.json_concat(to_json(h), json_build_object('feedback', json_build_object(
                                    'rating', f.rating, 'comment', f.comment, 'user_id', f.user_id,
                                    'created_at', f.created_at, 'updated_at', f.updated_at))) end order by h.seq), '[]'::json)
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = p_conversation_id
               and (p_before_seq is null or m.seq < p_before_seq)
             order by m.seq desc
             limit p_limit) h
      left join f on f.seq = h.seq);
end
$$;
comment on function public.get_messages(text, integer, bigint) is
  'The newest p_limit messages (or those before seq p_before_seq), oldest first; a message the '
  'caller rated carries feedback {rating, comment, user_id, created_at, updated_at}.';

create or replace function public.get_conversation(
  p_conversation_id text,
  p_message_limit integer default 50,
  p_before_seq bigint default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_row public.ai_conversations;
  v_messages json;
  v_oldest bigint;
  v_next bigint;
begin
  -- Read on every page view: the helpers are inlined, no nested call; JSON built as text. The
  -- cursor has its own statement so that the return is a simple expression, planned once.
  perform private.check_limit('limit', p_message_limit, 0, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  select * into v_row from public.ai_conversations c
   where c.conversation_id = p_conversation_id and c.expires_at > now();
  if not found then
    perform private.not_found(p_conversation_id);
  end if;
  if p_message_limit > 0 then
    if not v_row.rated then
      select json_agg(h order by h.seq), min(h.seq) into v_messages, v_oldest
        from (select * from public.ai_conversation_messages m
               where m.conversation_id = p_conversation_id
                 and (p_before_seq is null or m.seq < p_before_seq)
               order by m.seq desc
               limit p_message_limit) h;
    else
      with f as materialized (
        select * from public.ai_message_feedback f
         where f.conversation_id = p_conversation_id and f.user_id is not distinct from (select auth.uid())
           and (p_before_seq is null or f.seq < p_before_seq))
      select json_agg(case when f.rating is null then to_json(h)
                               else private.json_concat(to_json(h), json_build_object('feedback', json_build_object(
                                      'rating', f.rating, 'comment', f.comment, 'user_id', f.user_id,
                                      'created_at', f.created_at, 'updated_at', f.updated_at))) end order by h.seq), min(h.seq)
        into v_messages, v_oldest
        from (select * from public.ai_conversation_messages m
               where m.conversation_id = p_conversation_id
                 and (p_before_seq is null or m.seq < p_before_seq)
               order by m.seq desc
               limit p_message_limit) h
        left join f on f.seq = h.seq;
    end if;
    -- seq numbers are gapless but a clear leaves a hole below: ask the index, not arithmetic.
    if v_oldest > 1 and exists (select 1 from public.ai_conversation_messages m
                                 where m.conversation_id = p_conversation_id and m.seq < v_oldest) then
      v_next := v_oldest;
    end if;
  end if;
  return private.json_concat(private.conversation_json(v_row),
                             json_build_object('messages', coalesce(v_messages, '[]'::json), 'next_cursor', v_next));
end
$$;
comment on function public.get_conversation(text, integer, bigint) is
  'A conversation with its newest p_message_limit messages (0: none) before p_before_seq, oldest '
  'first, each the caller rated with its feedback {rating, comment, user_id, created_at, updated_at}; '
  'next_cursor is the seq to pass as p_before_seq for the previous page, or null.';
