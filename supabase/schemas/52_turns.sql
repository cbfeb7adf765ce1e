-- Turns: a turn of any face (native /chat, OpenAI's /v1/responses, the AI SDK's /api/chat) is a
-- row, begun by one call and finished by one (the one turn engine, app.turns).
--
-- begin_turn() decides where a turn goes and stores its input in one transaction: the
-- conversation given (or one created when missing, or a new one), or the one a previous response
-- lives in, forked at that response's last message when something but summaries came after it,
-- decided under the conversation's row lock (two continuations of one response at once branch
-- correctly). With truncation disabled, a history that does not fit whole is refused before
-- anything is stored. finish_turn() stores the output and the turn's state and result.
--
-- Keys: a turn with an idempotency key K stores its own message (the last of its input) under K,
-- its tool results under K:tool:1, K:tool:2, ... and its reply under K:assistant (private.turn_key;
-- hashed when that would not fit the column); begin_turn answers a replayed K with what the first
-- attempt stored: its reply, or the tool results it stored before it stopped, so the caller
-- resumes the model loop after them and never runs or stores a result twice.
--
-- Response ids are turn ids (resp_<32 hex digits>), bound to the one conversation their turn
-- belongs to: a response is the messages its turn recorded (public.get_response).

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

create function private.is_derived_key(p_key text)
returns boolean
language sql
immutable
begin atomic
  select p_key ~ '^summary:[0-9]+-[0-9]+$' or p_key ~ ':(assistant|tool:[0-9]+|output:[0-9]+)$';
end;
comment on function private.is_derived_key(text) is
  'Whether an idempotency key has a shape the store derives for a model''s output (a turn''s '
  'K:assistant, K:tool:n, K:output:n; a summary''s summary:a-b): its first message stays whatever a '
  'second one says. Inlined by the planner.';

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
  constraint ai_turns_idempotency_unique unique (conversation_id, idempotency_key),
  lease_expires_at timestamptz,
  stop_requested_at timestamptz,
  event_seq integer not null default 0
    constraint ai_turns_event_seq_check check (event_seq >= 0),
  superseded jsonb
    constraint ai_turns_superseded_array check (jsonb_typeof(superseded) = 'array')
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
comment on column public.ai_turns.superseded is 'A regeneration''s: the messages it replaced (what came after its input), as they were.';
comment on column public.ai_turns.last_seq is 'The seq of the turn''s last message: where a continuation of it goes on, or forks.';
comment on column public.ai_turns.lease_expires_at is
  'While it runs: until when the API instance generating it has promised to renew this lease. Past '
  'it, the instance is taken for dead and the turn is marked failed (public.fail_expired_turns).';
comment on column public.ai_turns.stop_requested_at is
  'When an explicit stop was asked for (public.stop_turn): the generating instance stores what it '
  'generated and finishes the turn as stopped.';
comment on column public.ai_turns.event_seq is
  'The seq of the last event of the turn''s stream (public.ai_turn_events), written when it ends; '
  '0 while it runs.';

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

-- Ids -------------------------------------------------------------------------------------------
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
    'finished_at', t.finished_at,
    'lease_expires_at', t.lease_expires_at,
    'stop_requested_at', t.stop_requested_at,
    'event_seq', t.event_seq);
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

-- Input -----------------------------------------------------------------------------------------
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

-- Begin -----------------------------------------------------------------------------------------
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

-- Finish ----------------------------------------------------------------------------------------
create function public.finish_turn(
  p_turn_id uuid default null,
  p_messages jsonb default '[]'::jsonb,
  p_state text default 'completed',
  p_result jsonb default '{}'::jsonb,
  p_events jsonb default null,
  p_event_seq integer default null
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
  -- The stream's last batch, before the state changes (the trigger then ends the stream after
  -- it). One that does not continue the stream is left out: the output is stored all the same.
  if p_events is not null then
    perform private.append_turn_batch(v_turn.id, p_event_seq, p_events);
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
comment on function public.finish_turn(uuid, jsonb, text, jsonb, jsonb, integer) is
  'Finishes a turn in one transaction: writes the last batch of its stream (p_events, from '
  'p_event_seq, as append_turn_events would; left out when it does not continue the stream), stores '
  'its output p_messages ([{role, content, metadata, idempotency_key}], in order; one without a key '
  'takes the turn''s K:assistant, then K:output:n) and its state (completed, stopped or failed) and '
  'result (model, tokens, duration, finish_reason, error), and returns the turn and the stored '
  'messages. A completed turn answers its stored output (replayed). P0002 for a turn that is unknown, '
  'not the caller''s or whose conversation expired.';

-- The chat turn of release 3 --------------------------------------------------------------------
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
