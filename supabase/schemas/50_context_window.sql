-- The context a model is sent, chosen here.
--
-- The window for a token budget: the latest summary (if it fits), then the newest messages
-- after what it covers whose tokens fit in the rest of the budget, up to a given message (the
-- turn's user message), which is always in. A window never starts with a tool result: the tool
-- results of a round are sent as the assistant's call rebuilt from them, after the user message
-- they answer, so a round enters whole with what it answers, or not at all. Summaries are
-- ordinary system messages (22_message_tokens.sql).
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
-- Its statements' plans are the same for every conversation (index probes by equality, ranges
-- by parameters): planned once per session, not per call (a custom plan costs more than the call).
set plan_cache_mode = force_generic_plan
as $$
declare
  v_last_seq bigint;
  v_summary json;
  v_summary_tokens integer;
  v_covers jsonb;
  v_covered bigint;
  v_start bigint;
  v_threshold integer;
  v_messages json;
  v_tokens bigint;
  v_first bigint;
  v_first_before bigint;
  v_u_seq bigint;
  v_u_before bigint;
begin
  -- Two statements (each costs an executor start), their probes as sub-selects.
  -- 1: the newest message (p_last_seq, or the conversation's newest), the latest summary if it
  -- fits with it, where the window starts: the oldest message whose tokens_before reaches the
  -- floor (the messages from x to the newest hold its running sum minus tokens_before(x)), and
  -- the first message after what the summary covers.
  select l.seq, row_to_json(s), s.tokens, s.metadata -> 'covers', coalesce((s.metadata -> 'covers' ->> 1)::bigint, 0),
         (select m.seq from public.ai_conversation_messages m
           where m.conversation_id = p_conversation_id
             and m.tokens_before >= least(l.tokens_before + l.tokens - p_token_budget + coalesce(s.tokens, 0),
                                          l.tokens_before)
           order by m.tokens_before limit 1),
         u.seq, u.tokens_before, t.compaction_threshold_tokens
    into v_last_seq, v_summary, v_summary_tokens, v_covers, v_covered, v_start, v_u_seq, v_u_before, v_threshold
    from public.ai_conversation_settings t
    cross join lateral (
      select m.seq, m.tokens, m.tokens_before from public.ai_conversation_messages m
       where m.conversation_id = p_conversation_id and m.seq <= coalesce(p_last_seq, 9223372036854775807)
         and not private.is_summary(m.role, m.metadata)
       order by m.seq desc limit 1) l
    left join lateral (
      select m.* from public.ai_conversation_messages m
       where m.conversation_id = p_conversation_id and m.seq <= coalesce(p_last_seq, 9223372036854775807)
         and m.role = 'system' and m.metadata @> '{"kind": "summary"}'
       order by m.seq desc limit 1) s on s.tokens + l.tokens <= p_token_budget
    -- the first message after what the summary covers (the first left out, if the window
    -- does not start there); a summary's tokens_before is the next message's
    left join lateral (
      select m.seq, m.tokens_before from public.ai_conversation_messages m
       where m.conversation_id = p_conversation_id
         and m.seq > coalesce((s.metadata -> 'covers' ->> 1)::bigint, 0)
       order by m.seq limit 1) u on true
   where t.id;
  if v_last_seq is null then
    v_covered := 0;
  end if;

  -- 2: the window, one range scan of (conversation_id, seq) after what the summary covers,
  -- never starting with a tool result.
  select json_agg(h order by h.seq) filter (where h.seq >= h.start), sum(h.tokens) filter (where h.seq >= h.start),
         min(h.seq) filter (where h.seq >= h.start), min(h.tokens_before) filter (where h.seq >= h.start)
    into v_messages, v_tokens, v_first, v_first_before
    from (select x.*, coalesce(min(x.seq) filter (where x.role <> 'tool') over (), v_last_seq) as start
            from (select m.* from public.ai_conversation_messages m
                   where m.conversation_id = p_conversation_id
                     and m.seq between greatest(v_start, v_covered + 1) and v_last_seq
                   order by m.seq desc limit p_limit) x
           where not private.is_summary(x.role, x.metadata)) h;
  -- Nothing is left out beyond the summary when the window starts at the first message after
  -- it, or when the window is empty: the summary covers every message up to the newest (u is
  -- then past the newest message, possibly the summary itself, and v_first is null).
  if v_first is null or v_u_seq >= v_first then
    v_u_seq := null;
  end if;

  return json_build_object(
    'conversation_id', p_conversation_id,
    'token_budget', p_token_budget,
    'tokens', coalesce(v_tokens, 0) + coalesce(v_summary_tokens, 0),
    'summary', v_summary,
    'messages', coalesce(v_messages, '[]'::json),
    'first_seq', v_first,
    'last_seq', v_last_seq,
    'left_out', case when v_summary is not null or v_u_seq is not null then json_build_object(
        'summarized', v_covers,
        'unsummarized', case when v_u_seq is not null then json_build_array(v_u_seq, v_first - 1) end,
        'unsummarized_tokens', coalesce(v_first_before - v_u_before, 0)) end,
    'compaction', json_build_object(
      'due', coalesce(v_u_seq is not null and v_threshold > 0 and v_first_before - v_u_before > v_threshold, false),
      'first_seq', coalesce((v_covers ->> 0)::bigint, v_u_seq),
      'last_seq', case when v_u_seq is not null then v_first - 1 end,
      'tokens', coalesce(v_first_before - v_u_before, 0)));
end
$$;
comment on function private.context_window(text, bigint, integer, integer) is
  'The context for a token budget, up to and including message p_last_seq (the newest when null): '
  'the latest summary if it fits, the newest messages after what it covers that fit the rest '
  '(at most p_limit; never starting with a tool result; p_last_seq always in), their seqs and '
  'tokens, what was left out, and whether compaction is due. One statement.';

-- Read the context ------------------------------------------------------------------------------
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
set plan_cache_mode = force_generic_plan  -- see private.context_window()
as $$
declare
  v_limit integer;
  v_live boolean;
begin
  -- Hot: the checks in one statement (inlined helpers), then the window in one more.
  select coalesce(p_limit, s.max_page_size),
         private.check_limit('limit', coalesce(p_limit, s.max_page_size), 1, s.max_page_size)
           and private.check_limit('token_budget', p_token_budget, 1, 2147483647)
           and exists (select 1 from public.ai_conversations c
                        where c.conversation_id = p_conversation_id and c.expires_at > now())
    into v_limit, v_live
    from public.ai_conversation_settings s where s.id;
  if not v_live then
    perform private.not_found(p_conversation_id);
  end if;
  return private.context_window(p_conversation_id, null, p_token_budget, v_limit);
end
$$;
comment on function public.get_context(text, integer, integer) is
  'What the next chat turn with this token budget would send (its new message aside): the latest '
  'summary, the newest messages that fit (at most p_limit, default max_page_size), the token total, '
  'what was left out and whether compaction is due.';

-- Does the whole history fit? ---------------------------------------------------------------------
-- context_fits() says whether a conversation's whole history up to a seq, plus the input about
-- to be stored, fits a token budget and a message cap untruncated: /v1/responses'
-- `truncation: "disabled"` refuses the request when it does not, before anything is stored.
-- What "fits" means is private.context_window()'s: the same counts, the same window, nothing
-- left out (a summary standing for older messages is something left out) and its tokens within
-- the budget. It also answers that window, for a response that stores nothing (`store: false`).
-- Every parameter has a default (an RPC omits null arguments): a null budget is out of range.
create function public.context_fits(
  p_conversation_id text default null,
  p_token_budget integer default null,
  p_limit integer default null,
  p_at_seq bigint default null,
  p_messages jsonb default '[]'::jsonb
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_limit integer;
  v_input_tokens bigint;
  v_input_count integer;
  v_context json;
  v_tokens bigint;
  v_count integer;
  v_fits boolean;
begin
  select coalesce(p_limit, s.max_page_size) into v_limit from public.ai_conversation_settings s where s.id;
  perform private.check_limit('limit', v_limit, 1, s.max_page_size),
          private.check_limit('token_budget', p_token_budget, 1, 2147483647)
     from public.ai_conversation_settings s where s.id;
  if jsonb_typeof(coalesce(p_messages, '[]'::jsonb)) <> 'array' then
    raise exception 'messages must be a JSON array' using errcode = '22023';
  end if;
  -- The input's counts, as the insert trigger will count them (private.message_tokens).
  select coalesce(sum(private.message_tokens(m.role, coalesce(m.content, ''), coalesce(m.metadata, '{}'::jsonb))), 0),
         count(*)
    into v_input_tokens, v_input_count
    from jsonb_to_recordset(coalesce(p_messages, '[]'::jsonb)) as m(role text, content text, metadata jsonb);
  v_fits := v_input_count <= v_limit and v_input_tokens <= p_token_budget;
  v_tokens := v_input_tokens;
  v_count := v_input_count;
  if p_conversation_id is not null then
    perform private.live_conversation(p_conversation_id);
    if v_fits and v_input_count < v_limit and v_input_tokens < p_token_budget then
      -- The window for what the input leaves of the budget and of the cap.
      v_context := private.context_window(p_conversation_id, p_at_seq,
                                          (p_token_budget - v_input_tokens)::integer, v_limit - v_input_count);
      v_tokens := v_tokens + (v_context ->> 'tokens')::bigint;
      v_count := v_count + json_array_length(v_context -> 'messages');
      v_fits := v_context ->> 'left_out' is null and v_tokens <= p_token_budget;
    elsif exists (select 1 from public.ai_conversation_messages m
                   where m.conversation_id = p_conversation_id
                     and m.seq <= coalesce(p_at_seq, 9223372036854775807)) then
      v_fits := false;  -- the input alone fills the budget or the cap, and there is history
    end if;
  end if;
  return json_build_object(
    'fits', v_fits,
    'tokens', v_tokens,
    'token_budget', p_token_budget,
    'messages', v_count,
    'limit', v_limit,
    'left_out', v_context -> 'left_out',
    'context', v_context);
end
$$;
comment on function public.context_fits(text, integer, integer, bigint, jsonb) is
  'Whether the history of p_conversation_id up to p_at_seq (all of it when null; none without a '
  'conversation) plus p_messages (the input about to be stored: [{role, content, metadata}]) fits '
  'p_token_budget tokens and p_limit messages (default max_page_size) with nothing left out, as '
  'private.context_window() counts: fits, tokens and messages (history plus input, where the '
  'history was read), token_budget, limit, left_out, and context: the window of the history for '
  'what the input leaves of the budget and the cap (null without a conversation or room), what a '
  'turn that stores nothing sends. Stores nothing; P0002 for a conversation the caller cannot read.';

-- Summaries ---------------------------------------------------------------------------------------
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
  perform private.live_conversation(p_conversation_id);
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
