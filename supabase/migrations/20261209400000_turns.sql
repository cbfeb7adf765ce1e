-- One turn engine (issue 18): a turn of any face is a row, begun by one call and finished by one.
--
-- A turn is what one request to the model does to a conversation: the native /chat, OpenAI's
-- /v1/responses (a response is a turn) and the AI SDK's /api/chat are three faces of it. Each
-- begins a turn with begin_turn(), which decides where it goes and stores its input in one
-- transaction, and stores what the model answered with finish_turn(). The decisions a face used to
-- make in Python, in up to six store calls with no transaction around them, are made here:
-- * where: the conversation given (or a new one, or one created when missing), or the one a
--   previous response lives in. A previous response that is no longer the latest thing in its
--   conversation (summaries aside) is continued in a fork at its last message, without rewriting
--   what came after it. The choice is made under the conversation's row lock, so two requests
--   continuing the same response at once branch correctly: the first continues the conversation,
--   the second (which then sees the first's turn) forks;
-- * whether the history fits: with truncation disabled, the history and the input must fit the
--   token budget and the message cap with nothing left out, else nothing is stored (54000 with
--   detail reason context_length_exceeded);
-- * who: a user may only name itself as a new conversation's owner (42501), as create_conversation
--   already requires; RLS decides the rest;
-- * replays: a turn's idempotency key (the key of its own message) names the turn; a retry answers
--   what the first attempt stored (its reply, or the tool results it stored before it stopped).
--
-- Response ids are turn ids (resp_<32 hex digits>), bound to the one conversation their turn
-- belongs to: the messages of a response are the ones its turn recorded, never whatever message
-- of any conversation carries the id in its metadata (issue 22, item 9: Bob could make the
-- service's GET /v1/responses/<Alice's id> return his text).
--
-- The responses written before this release are recorded as turns from their messages' metadata:
-- per response id, the conversation that holds its first message (copies made by a fork, and
-- messages of another conversation that claim the id, are not the response's).

create table public.ai_turns (
  id uuid primary key default gen_random_uuid(),
  conversation_id varchar(255) not null
    references public.ai_conversations (conversation_id) on delete cascade,
  kind text not null
    constraint ai_turns_kind_check check (kind in ('chat', 'response', 'ui')),
  state text not null default 'in_progress'
    constraint ai_turns_state_check check (state in ('queued', 'in_progress', 'completed', 'stopped', 'failed')),
  idempotency_key varchar(255)
    constraint ai_turns_idempotency_key_not_empty check (idempotency_key <> ''),
  request jsonb not null default '{}'::jsonb
    constraint ai_turns_request_object check (jsonb_typeof(request) = 'object'),
  result jsonb not null default '{}'::jsonb
    constraint ai_turns_result_object check (jsonb_typeof(result) = 'object'),
  input_ids uuid[] not null default '{}',
  output_ids uuid[] not null default '{}',
  last_seq bigint not null default 0 check (last_seq >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  -- Also the index of the foreign key: a conversation's turns go with it.
  constraint ai_turns_idempotency_unique unique (conversation_id, idempotency_key)
);
comment on table public.ai_turns is
  'One row per turn of a conversation (a /chat turn, a /v1 response, an AI SDK reply): its face '
  '(kind), its state, the request it was begun with and what it stored. Begun by begin_turn(), '
  'finished by finish_turn(); deleted with its conversation.';
comment on column public.ai_turns.kind is 'The face that began it: chat (native /chat), response (/v1/responses), ui (the AI SDK''s /api/chat).';
comment on column public.ai_turns.state is 'queued, in_progress, then completed, stopped (an explicit stop; what was generated is kept) or failed.';
comment on column public.ai_turns.idempotency_key is 'The key of the turn''s own message (the last of its input): a retry with it is this turn again.';
comment on column public.ai_turns.request is 'What the face needs to render the turn again (for a response: its model, instructions, tools, metadata...).';
comment on column public.ai_turns.result is 'What finished it: model, tokens, duration_ms, finish_reason; error when it failed.';
comment on column public.ai_turns.input_ids is 'The messages the turn stored as its input, in order.';
comment on column public.ai_turns.output_ids is 'The messages the turn stored as its output (the reply, output items), in order.';
comment on column public.ai_turns.last_seq is 'The seq of the turn''s last message: where a continuation of it goes on, or forks.';

alter table public.ai_turns enable row level security;

-- The same ownership rule as the messages' policies (20261201100100): the caller's own live
-- conversation; the service bypasses RLS. Users write turns through begin_turn, finish_turn and
-- delete_response, which run as the caller: these policies are what lets them.
create policy "authenticated selects turns of own live conversations" on public.ai_turns
  for select to authenticated
  using (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_turns.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));
create policy "authenticated inserts turns into own live conversations" on public.ai_turns
  for insert to authenticated
  with check (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_turns.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));
create policy "authenticated updates turns of own live conversations" on public.ai_turns
  for update to authenticated
  using (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_turns.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))))
  with check (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_turns.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));

create policy "authenticated deletes turns of own live conversations" on public.ai_turns
  for delete to authenticated
  using (exists (
    select 1 from public.ai_conversations c
     where c.conversation_id = ai_turns.conversation_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));

revoke all on public.ai_turns from public, anon, authenticated, service_role;
grant select, insert, update, delete on public.ai_turns to authenticated, service_role;

-- Ids --------------------------------------------------------------------------------------------
create function private.turn_uuid(p_id text)
returns uuid
language sql
immutable
begin atomic
  select coalesce(substring(p_id from '^resp_([0-9a-f]{32})$'),
                  substring(p_id from '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$'))::uuid;
end;
comment on function private.turn_uuid(text) is
  'The turn a public id names: a response id (resp_<32 hex digits>) or the uuid itself; null for '
  'anything else. Inlined by the planner.';

create function private.turn_json(t public.ai_turns)
returns json
language sql
stable
begin atomic
  select json_build_object(
    'id', t.id,
    'conversation_id', t.conversation_id,
    'kind', t.kind,
    'state', t.state,
    'idempotency_key', t.idempotency_key,
    'request', t.request,
    'result', t.result,
    'last_seq', t.last_seq,
    'created_at', t.created_at,
    'updated_at', t.updated_at,
    'finished_at', t.finished_at);
end;
comment on function private.turn_json(public.ai_turns) is 'A turn as the store answers it. Inlined by the planner.';

create function private.turn_not_found(p_id text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'turn % not found', p_id using errcode = 'P0002';
end
$$;
comment on function private.turn_not_found(text) is
  'Raises P0002 for a turn (or response) that is unknown or not visible to the caller: one answer for both.';

-- Input ------------------------------------------------------------------------------------------
create function private.check_messages(p_messages jsonb, p_name text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if jsonb_typeof(p_messages) is distinct from 'array' then
    raise exception '% must be a JSON array of messages', p_name using errcode = '22023';
  end if;
  perform private.check_limit(p_name, jsonb_array_length(p_messages), 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  -- The insert trigger checks sizes and the table's checks the rest; this is for a turn that
  -- stores nothing (store: false), whose input is still sent to the model.
  if exists (
    select 1 from jsonb_array_elements(p_messages) e
     where jsonb_typeof(e.value) is distinct from 'object'
        or jsonb_typeof(e.value -> 'content') is distinct from 'string'
        or e.value ->> 'content' = ''
        or (e.value ->> 'role') is null
        or (e.value ->> 'role') not in ('user', 'assistant', 'system', 'tool')
        or coalesce(jsonb_typeof(e.value -> 'metadata'), 'object') not in ('object', 'null')
        or coalesce(jsonb_typeof(e.value -> 'idempotency_key'), 'string') not in ('string', 'null')
  ) then
    raise exception 'each of % must be an object {role: user|assistant|system|tool, content: a non-empty string, metadata: an object, idempotency_key: a string}', p_name
      using errcode = '22023';
  end if;
end
$$;
comment on function private.check_messages(jsonb, text) is
  'Rejects (22023) a message array that is not 1..max_page_size objects {role, content, metadata, idempotency_key}.';

create function private.check_turn_object(p_value jsonb, p_name text)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  v_max integer := (select s.max_content_chars from public.ai_conversation_settings s where s.id);
begin
  if jsonb_typeof(p_value) is distinct from 'object' then
    raise exception '% must be a JSON object', p_name using errcode = '22023';
  end if;
  if octet_length(p_value::text) > v_max then
    raise exception '% is % bytes; the limit is %', p_name, octet_length(p_value::text), v_max
      using errcode = '22023';
  end if;
end
$$;
comment on function private.check_turn_object(jsonb, text) is
  'Rejects (22023) a turn''s request or result that is not a JSON object of at most max_content_chars bytes.';

-- Begin ------------------------------------------------------------------------------------------
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
  p_turn_id uuid default null
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

  insert into public.ai_turns (id, conversation_id, kind, idempotency_key, request, input_ids, last_seq)
  values (coalesce(p_turn_id, gen_random_uuid()), v_id, p_kind, p_idempotency_key, p_request, v_ids, v_last)
  on conflict (conversation_id, idempotency_key) do update
     set state = case when ai_turns.state = 'completed' then ai_turns.state else 'in_progress' end,
         updated_at = now()
  returning * into v_turn;
  v_replayed := v_replayed or v_turn.created_at < now();

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
    'tool_results', coalesce(v_tools, '[]'::json));
end
$$;
comment on function public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid) is
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
  'on a replayed p_idempotency_key, what the first attempt stored (reply, tool_results). With p_store '
  'false nothing is written: the history is the window of what is stored, for what the input leaves.';

-- Finish -----------------------------------------------------------------------------------------
create function public.finish_turn(
  p_turn_id uuid default null,
  p_messages jsonb default '[]'::jsonb,
  p_state text default 'completed',
  p_result jsonb default '{}'::jsonb
)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
  v_item jsonb;
  v_n integer := 0;
  v_key text;
  v_appended json;
  v_out json[] := '{}';
  v_ids uuid[] := '{}';
  v_replayed boolean := false;
begin
  if p_state is null or p_state not in ('completed', 'stopped', 'failed') then
    raise exception 'state must be completed, stopped or failed' using errcode = '22023';
  end if;
  if jsonb_typeof(p_messages) is distinct from 'array' then
    raise exception 'messages must be a JSON array' using errcode = '22023';
  end if;
  if jsonb_array_length(p_messages) > 0 then
    perform private.check_messages(p_messages, 'messages');
  end if;
  perform private.check_turn_object(p_result, 'result');
  select * into v_turn from public.ai_turns t where t.id = p_turn_id for update;
  if not found or not exists (select 1 from public.ai_conversations c
                               where c.conversation_id = v_turn.conversation_id and c.expires_at > now()) then
    perform private.turn_not_found(p_turn_id::text);
  end if;
  if v_turn.state = 'completed' then
    -- Finished already (a retry of this call, or a concurrent attempt of the turn): its output.
    return json_build_object(
      'turn', private.turn_json(v_turn),
      'messages', (select coalesce(json_agg(m order by m.seq), '[]'::json) from public.ai_conversation_messages m
                    where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.output_ids)),
      'replayed', true);
  end if;
  -- Each output message as append_message stores one. One without its own key takes one from the
  -- turn's: the first K:assistant (the reply, as chat turns always keyed it), the n-th K:output:n.
  for v_item in select e.value from jsonb_array_elements(p_messages) e loop
    v_n := v_n + 1;
    v_key := v_item ->> 'idempotency_key';
    if v_key is null and v_turn.idempotency_key is not null then
      v_key := private.turn_key(v_turn.idempotency_key, case when v_n = 1 then 'assistant' else 'output:' || v_n end);
    end if;
    v_appended := public.append_message(v_turn.conversation_id, v_item ->> 'role', v_item ->> 'content',
                                        coalesce(v_item -> 'metadata', '{}'::jsonb), v_key);
    v_out := v_out || (v_appended -> 'message');
    v_ids := v_ids || ((v_appended -> 'message' ->> 'id')::uuid);
    v_replayed := v_replayed or (v_appended ->> 'replayed')::boolean;
  end loop;
  update public.ai_turns t
     set state = p_state,
         result = p_result,
         output_ids = v_ids,
         last_seq = greatest(t.last_seq, coalesce((select max((m ->> 'seq')::bigint) from unnest(v_out) m), 0)),
         updated_at = now(),
         finished_at = now()
   where t.id = v_turn.id
  returning * into v_turn;
  return json_build_object('turn', private.turn_json(v_turn), 'messages', array_to_json(v_out), 'replayed', v_replayed);
end
$$;
comment on function public.finish_turn(uuid, jsonb, text, jsonb) is
  'Finishes a turn in one transaction: stores its output p_messages ([{role, content, metadata, '
  'idempotency_key}], in order; one without a key takes the turn''s K:assistant, then K:output:n) and '
  'its state (completed, stopped or failed) and result (model, tokens, duration, finish_reason, '
  'error), and returns the turn and the stored messages. A completed turn answers its stored output '
  '(replayed). P0002 for a turn that is unknown, not the caller''s or whose conversation expired.';

-- Responses: a turn of kind response ------------------------------------------------------------
create or replace function public.get_response(p_response_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
  v_row public.ai_conversations;
begin
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_response_id) and t.kind = 'response';
  select * into v_row from public.ai_conversations c
   where c.conversation_id = v_turn.conversation_id and c.expires_at > now();
  if v_turn.id is null or v_row.conversation_id is null then
    perform private.item_not_found('response', p_response_id);
  end if;
  return json_build_object(
    'turn', private.turn_json(v_turn),
    'conversation', private.conversation_json(v_row),
    'input', (select coalesce(json_agg(m order by m.seq), '[]'::json) from public.ai_conversation_messages m
               where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids)),
    'output', (select coalesce(json_agg(m order by m.seq), '[]'::json) from public.ai_conversation_messages m
                where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.output_ids)),
    'latest', not exists (select 1 from public.ai_conversation_messages m
                           where m.conversation_id = v_turn.conversation_id and m.seq > v_turn.last_seq
                             and not private.is_summary(m.role, m.metadata)));
end
$$;
comment on function public.get_response(text) is
  'One /v1 response: its turn, its conversation, the messages its turn stored as input and as output '
  '(those still there, in seq order) and whether nothing but summaries came after it (latest); P0002 '
  'when it is unknown, not visible to the caller or its conversation expired.';

create or replace function public.delete_response(p_response_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
  v_count integer;
begin
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_response_id) and t.kind = 'response'
     for update;
  if v_turn.id is null or not exists (select 1 from public.ai_conversations c
                                       where c.conversation_id = v_turn.conversation_id and c.expires_at > now()) then
    perform private.item_not_found('response', p_response_id);
  end if;
  with d as (
    delete from public.ai_conversation_messages m
     where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids || v_turn.output_ids)
    returning 1)
  select count(*) into v_count from d;
  delete from public.ai_turns t where t.id = v_turn.id;
  return json_build_object('id', p_response_id, 'deleted', v_count);
end
$$;
comment on function public.delete_response(text) is
  'Deletes one /v1 response: its turn and the messages it stored (its input and output items; a '
  'fork''s copies stay, they are the fork''s history); returns how many messages; P0002 when it is '
  'not visible.';

create function public.list_response_items(
  p_response_id text,
  p_limit integer default 20,
  p_order text default 'desc',
  p_after text default null
)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
  v_after bigint;
  v_page json;
  v_count integer;
begin
  perform private.check_limit('limit', p_limit, 1, s.max_page_size)
     from public.ai_conversation_settings s where s.id;
  if p_order is null or p_order not in ('asc', 'desc') then
    raise exception 'order must be asc or desc' using errcode = '22023';
  end if;
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_response_id) and t.kind = 'response';
  if v_turn.id is null or not exists (select 1 from public.ai_conversations c
                                       where c.conversation_id = v_turn.conversation_id and c.expires_at > now()) then
    perform private.item_not_found('response', p_response_id);
  end if;
  if p_after is not null then
    select m.seq into v_after from public.ai_conversation_messages m
     where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids)
       and (m.idempotency_key = p_after or m.id = private.item_uuid(p_after));
    if v_after is null then
      perform private.item_not_found('item', p_after);
    end if;
  end if;
  select json_agg(h order by case when p_order = 'asc' then h.seq else -h.seq end), count(*) into v_page, v_count
    from (select * from public.ai_conversation_messages m
           where m.conversation_id = v_turn.conversation_id and m.id = any(v_turn.input_ids)
             and (v_after is null or (p_order = 'asc' and m.seq > v_after) or (p_order = 'desc' and m.seq < v_after))
           order by case when p_order = 'asc' then m.seq else -m.seq end
           limit p_limit + 1) h;
  return json_build_object(
    'messages', coalesce((select json_agg(e) from json_array_elements(v_page) with ordinality x(e, i)
                           where x.i <= p_limit), '[]'::json),
    'has_more', coalesce(v_count > p_limit, false));
end
$$;
comment on function public.list_response_items(text, integer, text, text) is
  'A page of the input items of one /v1 response in seq order (asc or desc) after the item p_after '
  '(the last item id of the previous page), and whether more follow; P0002 when it is not visible.';

-- The responses written before this release -------------------------------------------------------
-- Per response id (the API always wrote resp_<32 hex digits>), the conversation that holds its
-- earliest message; copies made by forks and messages elsewhere claiming the id are left out.
with tagged as (
  select m.id, m.conversation_id, m.seq, m.created_at, m.metadata #>> '{openai,response_id}' as response_id,
         m.metadata #>> '{openai,source}' as source, m.metadata #> '{openai,response}' as envelope
    from public.ai_conversation_messages m
   where (m.metadata #>> '{openai,response_id}') ~ '^resp_[0-9a-f]{32}$'
     and not (m.metadata ? 'forked_from')
), home as (
  select distinct on (t.response_id) t.response_id, t.conversation_id
    from tagged t order by t.response_id, t.created_at, t.seq
)
insert into public.ai_turns (id, conversation_id, kind, state, request, result, input_ids, output_ids,
                             last_seq, created_at, updated_at, finished_at)
select private.turn_uuid(h.response_id), h.conversation_id, 'response',
       case when bool_or(t.source = 'output') then 'completed' else 'failed' end,
       coalesce((array_agg(t.envelope order by t.seq desc) filter (where t.envelope is not null))[1], '{}'::jsonb),
       '{}'::jsonb,
       coalesce(array_agg(t.id order by t.seq) filter (where t.source is distinct from 'output'), '{}'),
       coalesce(array_agg(t.id order by t.seq) filter (where t.source = 'output'), '{}'),
       max(t.seq), min(t.created_at), max(t.created_at), max(t.created_at)
  from home h join tagged t on t.response_id = h.response_id and t.conversation_id = h.conversation_id
 group by h.response_id, h.conversation_id;

-- The chat turn of release 3, on the one turn ---------------------------------------------------
-- begin_chat_turn stays for the callers of its RPC, now a turn of kind chat like the API's.
create or replace function public.begin_chat_turn(
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
as $$
declare
  v_turn json := public.begin_turn(
    p_input => jsonb_build_array(jsonb_build_object(
      'role', 'user', 'content', p_content, 'metadata', coalesce(p_metadata, '{}'::jsonb))),
    p_conversation_id => p_conversation_id,
    p_create_if_missing => p_create_if_missing,
    p_user_id => p_user_id,
    p_conversation_metadata => p_conversation_metadata,
    p_idempotency_key => p_idempotency_key,
    p_history_limit => p_history_limit,
    p_token_budget => p_token_budget);
begin
  return json_build_object(
    'conversation_id', v_turn -> 'conversation_id',
    'created', v_turn -> 'created',
    'message', v_turn -> 'input' -> 0,
    'replayed', v_turn -> 'replayed',
    'history', v_turn -> 'history',
    'context', v_turn -> 'context',
    'reply', v_turn -> 'reply',
    'tool_results', v_turn -> 'tool_results');
end
$$;
comment on function public.begin_chat_turn(text, text, uuid, jsonb, text, integer, jsonb, boolean, integer) is
  'begin_turn for one user message, answered in the shape of release 3: the conversation, created, '
  'the stored message, replayed, the history window, context, and on a replayed key the reply or '
  'tool results the first attempt stored. Kept for the callers of its RPC; the API calls begin_turn.';

-- One shape for a client's tool call, whatever face stored it ------------------------------------
-- The turn engine reads a client's tool call as an assistant message with metadata tool_call
-- {id, name} (its content: the arguments' JSON), and an empty output as a tool message with
-- metadata empty. /v1 items stored before this release said so in metadata.openai only: they get
-- the shared keys too, once (messages are immutable to everyone else).
alter table public.ai_conversation_messages disable trigger forbid_message_update;
update public.ai_conversation_messages m
   set metadata = m.metadata || jsonb_build_object('tool_call', jsonb_build_object(
         'id', m.metadata #>> '{openai,call_id}', 'name', m.metadata #>> '{openai,name}'))
 where m.metadata #>> '{openai,type}' = 'function_call' and not m.metadata ? 'tool_call';
update public.ai_conversation_messages m
   set metadata = m.metadata || '{"empty": true}'::jsonb
 where m.metadata #>> '{openai,type}' = 'function_call_output' and (m.metadata #> '{openai,empty}') = 'true'::jsonb
   and not m.metadata ? 'empty';
alter table public.ai_conversation_messages enable trigger forbid_message_update;

-- A response's messages are its turn's now, not those carrying its id: the index goes.
drop index public.ai_conversation_messages_response_idx;

-- Privileges (closed by default, see 20261201100300_function_privileges.sql) ----------------------
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        ('public.begin_turn(jsonb, text, text, boolean, uuid, jsonb, text, integer, integer, boolean, boolean, text, jsonb, uuid)', 'authenticated, service_role'),
        ('public.finish_turn(uuid, jsonb, text, jsonb)', 'authenticated, service_role'),
        ('public.list_response_items(text, integer, text, text)', 'authenticated, service_role'),
        ('private.turn_uuid(text)', 'authenticated, service_role'),
        ('private.turn_json(public.ai_turns)', 'authenticated, service_role'),
        ('private.turn_not_found(text)', 'authenticated, service_role'),
        ('private.check_messages(jsonb, text)', 'authenticated, service_role'),
        ('private.check_turn_object(jsonb, text)', 'authenticated, service_role')
      ) g(fn, roles)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', v_grant.fn);
    execute format('grant execute on function %s to %s', v_grant.fn, v_grant.roles);
  end loop;
end
$$;
