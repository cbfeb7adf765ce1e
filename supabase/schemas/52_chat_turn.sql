-- The chat turn owned by SQL: one round trip begins a turn, one more stores its reply.
--
-- A turn with an idempotency key K stores its user message under K, its tool results under
-- K:tool:1, K:tool:2, ... and its reply under K:assistant (private.turn_key; hashed when that
-- would not fit the column). begin_chat_turn answers a replayed K with what the first attempt
-- stored: its reply (one probe of (conversation_id, idempotency_key)) or, when it stopped
-- before one, the tool results it stored (a probe each, in order, until one is missing), so the
-- caller resumes the model loop after them and never runs or stores a result twice.
-- append_message derives the key of a result or reply from K (p_turn_key). The history window
-- is the count window (p_history_limit) or, with p_token_budget, private.context_window().
create function private.turn_key(p_key text, p_suffix text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when char_length(p_key) + 1 + char_length(p_suffix) <= 255 then p_key || ':' || p_suffix
              else 'sha256:' || encode(sha256(convert_to(p_key, 'UTF8')), 'hex') || ':' || p_suffix end
$$;
comment on function private.turn_key(text, text) is
  'The idempotency key of a message a chat turn with key p_key stores: p_key:p_suffix, or '
  'sha256:<hex of p_key>:p_suffix when that is longer than 255 characters.';

create function public.begin_chat_turn(
  p_content text,
  p_conversation_id text default null,
  p_user_id uuid default null,
  p_metadata jsonb default '{}'::jsonb,
  p_idempotency_key text default null,
  p_history_limit integer default 10,
  p_conversation_metadata jsonb default '{}'::jsonb,
  p_create_if_missing boolean default false,
  p_token_budget integer default null
)
returns json
language plpgsql
security invoker
set search_path = ''
-- Plans once per session, not per call: see private.context_window().
set plan_cache_mode = force_generic_plan
as $$
declare
  v_id text := p_conversation_id;
  v_created boolean := false;
  v_appended json;
  v_replayed boolean;
  v_seq bigint;
  v_context json;
  v_history json;
  v_reply public.ai_conversation_messages;
  v_tools json;
begin
  perform private.check_limit('history_limit', p_history_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  if p_token_budget is not null then
    perform private.check_limit('token_budget', p_token_budget, 1, 2147483647);
  end if;
  if v_id is null or (p_create_if_missing and not exists (
       select 1 from public.ai_conversations c
        where c.conversation_id = v_id and c.expires_at > now())) then
    v_id := (public.create_conversation(v_id, p_user_id, p_conversation_metadata) ->> 'conversation_id');
    v_created := true;
  end if;
  v_appended := public.append_message(v_id, 'user', p_content, p_metadata, p_idempotency_key);
  v_seq := (v_appended -> 'message' ->> 'seq')::bigint;
  v_replayed := (v_appended ->> 'replayed')::boolean;

  if p_token_budget is null then
    select coalesce(json_agg(h order by h.seq), '[]'::json) into v_history
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = v_id and m.seq <= v_seq
             order by m.seq desc
             limit p_history_limit) h;
  else
    v_context := private.context_window(v_id, v_seq, p_token_budget, p_history_limit);
    v_history := v_context -> 'messages';
  end if;

  if v_replayed and p_idempotency_key is not null then
    select * into v_reply from public.ai_conversation_messages m
     where m.conversation_id = v_id and m.idempotency_key = private.turn_key(p_idempotency_key, 'assistant');
    with recursive t(n, msg) as (
      select 1, m from public.ai_conversation_messages m
       where m.conversation_id = v_id and m.idempotency_key = private.turn_key(p_idempotency_key, 'tool:1')
      union all
      select t.n + 1, m from t join public.ai_conversation_messages m
        on m.conversation_id = v_id and m.idempotency_key = private.turn_key(p_idempotency_key, 'tool:' || (t.n + 1))
    )
    select coalesce(json_agg(t.msg order by t.n), '[]'::json) into v_tools from t;
  end if;

  return json_build_object(
    'conversation_id', v_id,
    'created', v_created,
    'message', v_appended -> 'message',
    'replayed', v_replayed,
    'history', v_history,
    'context', v_context,
    'reply', case when v_reply.id is not null then row_to_json(v_reply) end,
    'tool_results', coalesce(v_tools, '[]'::json));
end
$$;
comment on function public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean, integer) is
  'One round trip per chat turn: creates the conversation when no id is given (or when missing and '
  'p_create_if_missing), appends the user message, and returns the history window ending with it, '
  'oldest first: the last p_history_limit messages, or with p_token_budget the context window '
  '(private.context_window: summary, messages that fit, left out, compaction due; at most '
  'p_history_limit messages). On a replayed p_idempotency_key, also what the first attempt stored: '
  'its reply, or the tool results it stored before it stopped.';
