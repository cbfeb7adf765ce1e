-- Issue 22, item 4: GET /conversations/{id}/context answered 500 when the latest summary covers
-- every message left (10 messages, a summary at seq 11 covering [1, 8], then messages 9 and 10
-- deleted): the window is empty, and context_window reported the messages after the summary as
-- left out and unsummarized from the first message after what it covers (the summary itself,
-- seq 11) to v_first - 1, null. Such a window leaves out nothing but what the summary covers.
-- The one change is the test before the answer is built; the rest of the body is as released in
-- 20261203100100_context_window.sql.

create or replace function private.context_window(
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
