-- The AI SDK's chat protocol (issue 20): regenerating a reply, and resuming the reply in progress.
--
-- useChat's `regenerate` asks for another answer to the last user message; the SDK's UI drops the
-- reply it replaces. Decided here (docs/ai-sdk.md): a regeneration is a turn whose own message is
-- the stored user message, and what came after that message is replaced, in the same transaction:
-- deleted from the conversation (so the history the model reads, and what every reader shows, is
-- the one the client shows) and kept whole on the new turn (ai_turns.superseded), so nothing the
-- user saw is lost. A fork was the other choice: it would keep the old reply in a conversation of
-- its own, but useChat keeps one chat id, and a fork per regeneration would clutter the list.
-- begin_turn gains p_regenerate and p_superseded_id (the reply being replaced, checked when given).
--
-- get_running_turn() answers the newest turn of a conversation still in progress, from the start of
-- its stream: what useChat's resume (GET /api/chat/{id}/stream) reads, on any instance.

alter table public.ai_turns
  add column superseded jsonb
    constraint ai_turns_superseded_array check (jsonb_typeof(superseded) = 'array');
comment on column public.ai_turns.superseded is 'A regeneration''s: the messages it replaced (what came after its input), as they were.';

drop function public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid);
create function public.begin_turn(
  p_input jsonb default null,
  p_conversation_id text default null,
  p_previous_response_id text default null,
  p_create_if_missing boolean default false,
  p_user_id uuid default null,
  p_conversation_metadata jsonb default '{}'::jsonb,
  p_idempotency_key text default null,
  p_history_limit integer default 10,
  p_token_budget integer default null,
  p_truncate boolean default true,
  p_store boolean default true,
  p_kind text default 'chat',
  p_request jsonb default '{}'::jsonb,
  p_turn_id uuid default null,
  p_regenerate boolean default false,
  p_superseded_id text default null
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
  v_source text;            -- the conversation the history is read from (before a fork)
  v_at bigint;              -- read the history up to this seq (a previous response that is not the latest)
  v_prev public.ai_turns;
  v_created boolean := false;
  v_forked json;
  v_fit json;
  v_item jsonb;
  v_n bigint;
  v_appended json;
  v_input json[] := '{}';
  v_ids uuid[] := '{}';
  v_replayed boolean := false;
  v_last bigint;
  v_context json;
  v_history json;
  v_turn public.ai_turns;
  v_reply public.ai_conversation_messages;
  v_tools json;
  v_running boolean := false;
  v_own bigint;
  v_superseded jsonb;
begin
  -- The request first: nothing is read or written for one that cannot run.
  perform private.check_messages(p_input, 'input');
  perform private.check_limit('history_limit', p_history_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  if p_token_budget is not null then
    perform private.check_limit('token_budget', p_token_budget, 1, 2147483647);
  elsif not coalesce(p_truncate, true) then
    raise exception 'truncation can only be disabled with a token budget' using errcode = '22023';
  end if;
  if p_kind is null or p_kind not in ('chat', 'response', 'ui') then
    raise exception 'kind must be chat, response or ui' using errcode = '22023';
  end if;
  perform private.check_turn_object(p_request, 'request');
  if p_conversation_metadata is not null and jsonb_typeof(p_conversation_metadata) <> 'object' then
    raise exception 'conversation metadata must be a JSON object' using errcode = '22023';
  end if;
  if p_conversation_id is not null and p_previous_response_id is not null then
    raise exception 'conversation and previous_response_id are mutually exclusive' using errcode = '22023';
  end if;
  if auth.role() in ('anon', 'authenticated') and p_user_id is distinct from null
     and p_user_id is distinct from auth.uid() then
    raise exception 'a user may only chat in its own conversations (user_id must be the caller''s)'
      using errcode = '42501';
  end if;

  -- Where the turn goes.
  if p_previous_response_id is not null then
    select * into v_prev from public.ai_turns t where t.id = private.turn_uuid(p_previous_response_id);
    -- The conversation's row lock: a concurrent continuation of the same response commits first
    -- (then this one sees its turn and forks) or waits for this one.
    perform 1 from public.ai_conversations c
     where c.conversation_id = v_prev.conversation_id and c.expires_at > now()
       for update;
    if v_prev.id is null or not found then
      raise exception 'previous response % not found', p_previous_response_id
        using errcode = 'P0002', detail = '{"reason": "previous_response_not_found"}';
    end if;
    v_source := v_prev.conversation_id;
    if exists (select 1 from public.ai_conversation_messages m
                where m.conversation_id = v_source and m.seq > v_prev.last_seq
                  and not private.is_summary(m.role, m.metadata)) then
      v_at := v_prev.last_seq;
    end if;
    v_id := v_source;
  elsif v_id is not null and (not p_create_if_missing or exists (
          select 1 from public.ai_conversations c where c.conversation_id = v_id and c.expires_at > now())) then
    perform private.live_conversation(v_id);  -- P0002 for an unknown, expired or foreign one
    v_source := v_id;
  end if;

  -- Whether it fits (truncation disabled), and the window of a turn that stores nothing: the
  -- history up to where it continues, for what the input leaves of the budget and the cap.
  if p_token_budget is not null and (not p_truncate or not p_store) then
    v_fit := public.context_fits(v_source, p_token_budget, p_history_limit, v_at, p_input);
    if not p_truncate and not (v_fit ->> 'fits')::boolean then
      raise exception 'the conversation and the input take % tokens in % messages, more than the % tokens or % messages that fit, and truncation is disabled',
        v_fit ->> 'tokens', v_fit ->> 'messages', p_token_budget, v_fit ->> 'limit'
        using errcode = '54000',
              detail = json_build_object('reason', 'context_length_exceeded', 'tokens', v_fit -> 'tokens',
                                         'messages', v_fit -> 'messages', 'token_budget', p_token_budget,
                                         'limit', v_fit -> 'limit')::text;
    end if;
  end if;

  if not p_store then
    if p_token_budget is not null then
      v_context := v_fit -> 'context';
      v_history := coalesce(v_context -> 'messages', '[]'::json);
    elsif v_source is not null then
      select coalesce(json_agg(h order by h.seq), '[]'::json) into v_history
        from (select * from public.ai_conversation_messages m
               where m.conversation_id = v_source and m.seq <= coalesce(v_at, 9223372036854775807)
               order by m.seq desc
               limit greatest(p_history_limit - jsonb_array_length(p_input), 0)) h;
    end if;
    return json_build_object(
      'turn', null,
      'conversation_id', v_id,
      'created', false,
      'forked_from', null,
      'input', '[]'::json,
      'replayed', false,
      'history', coalesce(v_history, '[]'::json),
      'context', v_context,
      'reply', null,
      'tool_results', '[]'::json);
  end if;

  if v_at is not null then
    v_forked := public.fork_conversation(v_source, v_at);
    v_id := v_forked ->> 'conversation_id';
    v_created := true;
  elsif v_source is null then
    v_id := public.create_conversation(v_id, p_user_id, coalesce(p_conversation_metadata, '{}'::jsonb)) ->> 'conversation_id';
    v_created := true;
  end if;

  -- A regeneration answers its own message (stored already) again: what came after it is
  -- replaced, and kept on the new turn as it was (superseded). p_superseded_id, when given, must
  -- be one of those messages (by its key, or <prefix>_<uuid hex>).
  if p_regenerate then
    select m.seq into v_own from public.ai_conversation_messages m
     where m.conversation_id = v_id
       and m.idempotency_key = coalesce(p_input -> -1 ->> 'idempotency_key', p_idempotency_key);
    if v_own is null then
      raise exception 'the message to answer again is not stored' using errcode = '22023';
    end if;
    with gone as (
      delete from public.ai_conversation_messages m
       where m.conversation_id = v_id and m.seq > v_own
      returning m.*)
    select jsonb_agg(to_jsonb(g) order by g.seq) into v_superseded from gone g;
    if p_superseded_id is not null and not exists (
         select 1 from jsonb_array_elements(coalesce(v_superseded, '[]')) e
          where e.value ->> 'idempotency_key' = p_superseded_id
             or (e.value ->> 'id')::uuid is not distinct from private.item_uuid(p_superseded_id)) then
      perform private.item_not_found('message', p_superseded_id);
    end if;
  end if;

  -- The input, each message as append_message stores one (seq, sliding expiry, idempotency); the
  -- turn's own message, the last, takes the turn's key when it has none.
  for v_item, v_n in select e.value, e.n from jsonb_array_elements(p_input) with ordinality e(value, n) loop
    v_appended := public.append_message(v_id, v_item ->> 'role', v_item ->> 'content',
                                        coalesce(v_item -> 'metadata', '{}'::jsonb),
                                        coalesce(v_item ->> 'idempotency_key',
                                                 case when v_n = jsonb_array_length(p_input) then p_idempotency_key end));
    v_input := v_input || (v_appended -> 'message');
    v_ids := v_ids || ((v_appended -> 'message' ->> 'id')::uuid);
  end loop;
  v_last := (v_appended -> 'message' ->> 'seq')::bigint;
  v_replayed := (v_appended ->> 'replayed')::boolean;

  -- A retry of a turn that still runs under a live lease (on this instance or another) leaves it
  -- running: the caller follows its stream (running) instead of generating it a second time. One
  -- that failed or stopped runs again, under a new lease.
  insert into public.ai_turns (id, conversation_id, kind, idempotency_key, request, input_ids, last_seq,
                               lease_expires_at, superseded)
  values (coalesce(p_turn_id, gen_random_uuid()), v_id, p_kind, p_idempotency_key, p_request, v_ids, v_last,
          private.turn_lease(), v_superseded)
  on conflict (conversation_id, idempotency_key) do update
     set state = case when ai_turns.state = 'completed' or private.turn_is_running(ai_turns)
                      then ai_turns.state else 'in_progress' end,
         lease_expires_at = case when private.turn_is_running(ai_turns) then ai_turns.lease_expires_at
                                 else excluded.lease_expires_at end,
         stop_requested_at = case when private.turn_is_running(ai_turns) then ai_turns.stop_requested_at end,
         updated_at = case when private.turn_is_running(ai_turns) then ai_turns.updated_at else now() end
  returning * into v_turn;
  v_replayed := v_replayed or v_turn.created_at < now();
  v_running := v_turn.state in ('queued', 'in_progress') and v_turn.updated_at < now();

  if p_token_budget is null then
    select coalesce(json_agg(h order by h.seq), '[]'::json) into v_history
      from (select * from public.ai_conversation_messages m
             where m.conversation_id = v_id and m.seq <= v_last
             order by m.seq desc
             limit p_history_limit) h;
  else
    v_context := private.context_window(v_id, v_last, p_token_budget, p_history_limit);
    v_history := v_context -> 'messages';
  end if;

  -- A replay: what the first attempt stored (the probes of 20261203100200, by the keys a turn's
  -- results and reply get from its key).
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
    'turn', private.turn_json(v_turn),
    'conversation_id', v_id,
    'created', v_created,
    'forked_from', case when v_forked is not null then json_build_object('conversation_id', v_source, 'seq', v_at) end,
    'input', array_to_json(v_input),
    'replayed', v_replayed,
    'history', v_history,
    'context', v_context,
    'reply', case when v_reply.id is not null then row_to_json(v_reply) end,
    'tool_results', coalesce(v_tools, '[]'::json),
    'running', v_running);
end
$$;
comment on function public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid, boolean, text) is
  'Begins a turn in one transaction: resolves where it goes (p_conversation_id, created when missing '
  'and p_create_if_missing; the conversation of p_previous_response_id, forked at that response''s '
  'last message when something but summaries came after it, decided under the conversation''s row '
  'lock; else a new conversation owned by p_user_id, which a user may only set to itself: 42501), '
  'checks that the history and the input fit with nothing left out when p_truncate is false (54000, '
  'detail reason context_length_exceeded, nothing stored), stores the input p_input '
  '([{role, content, metadata, idempotency_key}], in order) and the turn (p_kind, p_request), and '
  'returns the turn (its id p_turn_id when the caller chose one: a face that names its output after it), '
  'the conversation id, created, forked_from, the stored input, the history window '
  'ending with it (the last p_history_limit messages, or with p_token_budget the context window) and, '
  'on a replayed p_idempotency_key, what the first attempt stored (reply, tool_results), and running: '
  'that attempt still runs under a live lease (follow its stream, do not generate it again). A new or '
  'rerun turn gets a lease of turn_lease_seconds. With p_store false nothing is written: the history is '
  'the window of what is stored, for what the input leaves. With p_regenerate the turn answers its own '
  'message (already stored) again: what came after it is deleted and kept on the turn (superseded); '
  'p_superseded_id, when given, must be one of those messages (P0002 otherwise).';

create or replace function public.get_turn(p_turn_id text, p_after_event integer default null, p_limit integer default 1000)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
begin
  if p_after_event is not null then
    perform private.check_limit('limit', p_limit, 1, s.max_page_size)
       from public.ai_conversation_settings s where s.id;
  end if;
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_turn_id);
  if v_turn.id is null or not exists (select 1 from public.ai_conversations c
                                       where c.conversation_id = v_turn.conversation_id and c.expires_at > now()) then
    perform private.turn_not_found(p_turn_id);
  end if;
  return json_build_object(
    'turn', private.turn_json(v_turn),
    'user_message_id', v_turn.input_ids[array_length(v_turn.input_ids, 1)],
    'output', (select coalesce(json_agg(m order by m.seq), '[]'::json) from public.ai_conversation_messages m
                where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.output_ids)),
    'superseded', v_turn.superseded,
    'events', case when p_after_event is not null then (
      select coalesce(json_agg(json_build_object('seq', e.seq, 'last_seq', e.last_seq, 'events', e.events)
                               order by e.seq), '[]'::json)
        from (select * from public.ai_turn_events e
               where e.turn_id = v_turn.id and e.last_seq > p_after_event
               order by e.seq limit p_limit) e) end);
end
$$;
comment on function public.get_turn(text, integer, integer) is
  'One turn (its id, or a response id): its row (state, result, lease, stop, event_seq), its own message '
  '(user_message_id), the output it stored and, for a regeneration, what it superseded; with '
  'p_after_event, also the batches of its stream '
  'holding events after that seq (at most p_limit batches, in order). P0002 when it is unknown, not '
  'visible to the caller or its conversation expired.';

create function public.get_running_turn(p_conversation_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_id uuid;
begin
  perform private.live_conversation(p_conversation_id);
  select t.id into v_id from public.ai_turns t
   where t.conversation_id = p_conversation_id and t.state in ('queued', 'in_progress')
   order by t.created_at desc
   limit 1;
  -- JSON null (not SQL null: every store call answers a value) when nothing runs.
  return coalesce(case when v_id is not null then public.get_turn(v_id::text, 0) end, 'null'::json);
end
$$;
comment on function public.get_running_turn(text) is
  'The newest turn of a conversation still queued or in progress, as get_turn answers it from the start '
  'of its stream (what a client resumes: the AI SDK''s GET /api/chat/{id}/stream); null when none. P0002 '
  'for a conversation the caller cannot read.';

-- Privileges ---------------------------------------------------------------------------------------
revoke all on function public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid, boolean, text)
  from public, anon, authenticated, service_role;
grant execute on function public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid, boolean, text)
  to authenticated, service_role;
revoke all on function public.get_running_turn(text) from public, anon, authenticated, service_role;
grant execute on function public.get_running_turn(text) to authenticated, service_role;
