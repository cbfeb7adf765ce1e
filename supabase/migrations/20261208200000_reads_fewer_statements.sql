-- Performance (issue 14): the two message readers, get_messages and get_conversation, planned
-- once per session and in fewer statements. What they answer, the errors they raise and the
-- order they raise them in are as in 20261207100000.
--
-- Measured with callgrind (instructions per call of a prepared statement, one transaction each)
-- and pgbench, on the benchmark's data: about half of a call is the JSON of its rows, which the
-- raw select pays too; of the rest, each statement costs about as much as encoding a message.
-- * Generic plans, always (plan_cache_mode, as private.context_window has): left to itself the
--   plan cache compares the generic plan's estimate with the custom plans' and, with some
--   statistics (one conversation of 20,000 messages among 200 of 50 is enough), keeps planning
--   every call: there the previous get_messages costs 978k instructions a call, this one 622k
--   (get_conversation: 1,261k, 938k). Every statement here is an index probe by equality or a
--   range bounded by parameters, whose generic plan is the plan.
-- * `seq < coalesce(p_before_seq, <max>)`, not `p_before_seq is null or seq < p_before_seq`: the
--   generic plan then bounds the index scan by the cursor instead of filtering every newer
--   message, so an old page of a long conversation costs what the newest one does (pages before
--   seq 100-300 of a 20,000-message conversation: 48 us a call instead of 110 us).
-- * The conversation row and the page of an unrated conversation (the hot path) are one
--   statement: the page is a sub-select of the conversation lookup, run when the row is there and
--   unrated; a rated one takes a second statement with the caller's ratings, as before.
--   get_conversation's cursor probe is a sub-select of the page's own aggregate, and the page is
--   built there as the object {messages, next_cursor} appended to the conversation.
-- * get_messages' page is array_to_json(array(... order by seq)): an ARRAY sub-select over a
--   sorted subquery, not json_agg(... order by): no aggregate node to start per call (-16k
--   instructions of 635k). The text differs in whitespace only.

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
