-- Conversation storage, release 3, part 2: the context a model is sent, chosen here.
--
-- The window for a token budget: the latest summary (if it fits), then the newest messages
-- after what it covers whose tokens fit in the rest of the budget, up to a given message (the
-- turn's user message), which is always in. A window never starts with a tool result: the tool
-- results of a round are sent as the assistant's call rebuilt from them, after the user message
-- they answer, so a round enters whole with what it answers, or not at all. Summaries are
-- ordinary system messages (metadata kind "summary", covers [first_seq, last_seq]); raw
-- messages are never changed or removed, so every read and export still shows everything.
--
-- Cost: the summary is one probe of a partial index; where the window starts is one probe of
-- (conversation_id, tokens_before); the window itself one range scan of (conversation_id, seq);
-- the tokens left out and covered by no summary one more probe. Compaction is due when those
-- exceed the settings' compaction_threshold_tokens: the caller then asks a model for a summary
-- of get_summary_input() and stores it with append_summary().

create function private.context_window(
  p_conversation_id text,
  p_last_seq bigint,
  p_token_budget integer,
  p_limit integer
)
returns json
language plpgsql
stable
set search_path = ''
as $$
declare
  v_last public.ai_conversation_messages;
  v_summary public.ai_conversation_messages;
  v_covered bigint := 0;   -- seqs up to this are what the summary stands for
  v_budget bigint := p_token_budget;
  v_floor bigint;
  v_start bigint;
  v_messages json;
  v_tokens bigint;
  v_first bigint;
  v_first_before bigint;
  v_uncovered_seq bigint;
  v_uncovered_before bigint;
  v_threshold integer;
begin
  select * into v_last from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id and m.seq <= coalesce(p_last_seq, 9223372036854775807)
     and not private.is_summary(m.role, m.metadata)
   order by m.seq desc limit 1;
  if not found then
    return json_build_object('token_budget', p_token_budget, 'tokens', 0, 'summary', null,
      'messages', '[]'::json, 'first_seq', null, 'last_seq', null, 'left_out', null,
      'compaction', json_build_object('due', false));
  end if;

  select * into v_summary from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id and m.seq <= coalesce(p_last_seq, 9223372036854775807)
     and m.role = 'system' and m.metadata @> '{"kind": "summary"}'
   order by m.seq desc limit 1;
  if found and v_summary.tokens + v_last.tokens <= p_token_budget then
    v_covered := (v_summary.metadata -> 'covers' ->> 1)::bigint;
    v_budget := p_token_budget - v_summary.tokens;
  else
    v_summary := null;
  end if;

  -- The messages from seq s to v_last hold v_last's running sum minus tokens_before(s): the
  -- window starts at the oldest s whose tokens_before reaches the floor (v_last itself at worst).
  v_floor := least(v_last.tokens_before + v_last.tokens - v_budget, v_last.tokens_before);
  select m.seq into v_start from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id and m.tokens_before >= v_floor
   order by m.tokens_before limit 1;
  v_start := greatest(v_start, v_covered + 1);

  with w as (
    select m.* from public.ai_conversation_messages m
     where m.conversation_id = p_conversation_id and m.seq between v_start and v_last.seq
     order by m.seq desc
     limit p_limit
  ), r as (
    select w.* from w where not private.is_summary(w.role, w.metadata)
  ), s as (
    select coalesce(min(r.seq) filter (where r.role <> 'tool'), v_last.seq) as seq from r
  )
  select json_agg(r order by r.seq), sum(r.tokens), min(r.seq), min(r.tokens_before)
    into v_messages, v_tokens, v_first, v_first_before
    from r, s where r.seq >= s.seq;

  -- What was left out and no summary covers: from the first message after the summary's range.
  select m.seq, m.tokens_before into v_uncovered_seq, v_uncovered_before
    from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id and m.seq > v_covered and m.seq < v_first
     and not private.is_summary(m.role, m.metadata)
   order by m.seq limit 1;
  select s.compaction_threshold_tokens into v_threshold
    from public.ai_conversation_settings s where s.id;

  return json_build_object(
    'token_budget', p_token_budget,
    'tokens', coalesce(v_tokens, 0) + coalesce(v_summary.tokens, 0),
    'summary', case when v_summary.id is not null then row_to_json(v_summary) end,
    'messages', coalesce(v_messages, '[]'::json),
    'first_seq', v_first,
    'last_seq', v_last.seq,
    'left_out', case when v_summary.id is not null or v_uncovered_seq is not null then
      json_build_object(
        'summarized', case when v_summary.id is not null then v_summary.metadata -> 'covers' end,
        'unsummarized', case when v_uncovered_seq is not null then json_build_array(v_uncovered_seq, v_first - 1) end,
        'unsummarized_tokens', coalesce(v_first_before - v_uncovered_before, 0))
      end,
    'compaction', json_build_object(
      'due', v_uncovered_seq is not null and v_threshold > 0
             and v_first_before - v_uncovered_before > v_threshold,
      'first_seq', coalesce((v_summary.metadata -> 'covers' ->> 0)::bigint, v_uncovered_seq),
      'last_seq', case when v_uncovered_seq is not null then v_first - 1 end,
      'tokens', coalesce(v_first_before - v_uncovered_before, 0)));
end
$$;
comment on function private.context_window(text, bigint, integer, integer) is
  'The context for a token budget, up to and including message p_last_seq (the newest when null): '
  'the latest summary if it fits, the newest messages after what it covers that fit the rest '
  '(at most p_limit; never starting with a tool result; p_last_seq always in), their seqs and '
  'tokens, what was left out, and whether compaction is due.';

-- read the context ------------------------------------------------------------------------------
create function public.get_context(
  p_conversation_id text,
  p_token_budget integer,
  p_limit integer default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_limit integer;
begin
  select coalesce(p_limit, s.max_page_size) into v_limit from public.ai_conversation_settings s where s.id;
  perform private.check_limit('limit', v_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  perform private.check_limit('token_budget', p_token_budget, 1, 2147483647);
  if not exists (select 1 from public.ai_conversations c
                  where c.conversation_id = p_conversation_id and c.expires_at > now()) then
    perform private.not_found(p_conversation_id);
  end if;
  return private.json_concat(json_build_object('conversation_id', p_conversation_id),
    private.context_window(p_conversation_id, null, p_token_budget, v_limit));
end
$$;
comment on function public.get_context(text, integer, integer) is
  'What the next chat turn with this token budget would send (its new message aside): the latest '
  'summary, the newest messages that fit (at most p_limit, default max_page_size), the token total, '
  'what was left out and whether compaction is due.';

-- summaries ---------------------------------------------------------------------------------------
create function public.get_summary_input(p_conversation_id text, p_first_seq bigint, p_last_seq bigint)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_summary public.ai_conversation_messages;
  v_after bigint;
  v_max integer;
  v_messages json;
  v_last bigint;
begin
  select s.max_page_size into v_max from public.ai_conversation_settings s where s.id;
  if p_first_seq is null or p_last_seq is null or p_first_seq < 1 or p_first_seq > p_last_seq then
    raise exception 'first_seq and last_seq must satisfy 1 <= first_seq <= last_seq' using errcode = '22023';
  end if;
  if not exists (select 1 from public.ai_conversations c
                  where c.conversation_id = p_conversation_id and c.expires_at > now()) then
    perform private.not_found(p_conversation_id);
  end if;
  -- The summary the new one extends: the latest one covering a range that starts at p_first_seq.
  select * into v_summary from public.ai_conversation_messages m
   where m.conversation_id = p_conversation_id
     and m.role = 'system' and m.metadata @> '{"kind": "summary"}'
     and (m.metadata -> 'covers' ->> 0)::bigint = p_first_seq
     and (m.metadata -> 'covers' ->> 1)::bigint < p_last_seq
   order by m.seq desc limit 1;
  v_after := coalesce((v_summary.metadata -> 'covers' ->> 1)::bigint, p_first_seq - 1);
  select json_agg(h order by h.seq), max(h.seq) into v_messages, v_last
    from (select * from public.ai_conversation_messages m
           where m.conversation_id = p_conversation_id and m.seq > v_after and m.seq <= p_last_seq
             and not private.is_summary(m.role, m.metadata)
           order by m.seq
           limit v_max) h;
  return json_build_object(
    'conversation_id', p_conversation_id,
    'first_seq', p_first_seq,
    'last_seq', coalesce(v_last, v_after),
    'summary', case when v_summary.id is not null then row_to_json(v_summary) end,
    'messages', coalesce(v_messages, '[]'::json));
end
$$;
comment on function public.get_summary_input(text, bigint, bigint) is
  'What a summary of seqs p_first_seq..p_last_seq is made from: the earlier summary it extends (one '
  'covering from p_first_seq, if any) and the messages after it, oldest first, at most '
  'max_page_size (last_seq then says where they stop: the summary covers first_seq..last_seq).';

create function public.append_summary(
  p_conversation_id text,
  p_content text,
  p_first_seq bigint,
  p_last_seq bigint,
  p_model text default null,
  p_tokens integer default null
)
returns json
language sql
security invoker
set search_path = ''
as $$
  -- One summary per range, whoever computes it: the key makes a second one a replay.
  select public.append_message(
    p_conversation_id, 'system', p_content,
    jsonb_strip_nulls(jsonb_build_object(
      'kind', 'summary', 'covers', jsonb_build_array(p_first_seq, p_last_seq),
      'model', p_model, 'tokens', p_tokens)),
    'summary:' || p_first_seq || '-' || p_last_seq)
$$;
comment on function public.append_summary(text, text, bigint, bigint, text, integer) is
  'Stores a summary of seqs p_first_seq..p_last_seq as a system message (metadata kind "summary", '
  'covers, model, tokens), once per range (a second one answers replayed = true). 23514 unless '
  '1 <= first <= last < the summary''s own seq.';
