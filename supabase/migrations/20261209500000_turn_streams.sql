-- Turn streams (issue 19): replies that outlive their connection.
--
-- A turn now runs to its end whatever its client does, and its stream is as durable as a message:
-- * ai_turn_events: each running turn's events (text deltas, tools run) in small batches, written
--   by the API instance generating it and carried to the other instances by their live feed
--   (wal2json), so any instance serves a stream from any position; a trigger appends a stream's
--   last event (done, stopped or error) whenever a turn ends, by whatever path;
-- * ai_turns gets a lease (lease_expires_at, renewed by the generating instance with
--   renew_turn_leases), a stop request (stop_requested_at, set by stop_turn and carried to the
--   generating instance by a logical message) and the seq of its stream's last event (event_seq);
-- * begin_turn gives a new turn its lease, and answers a retry of a turn that still runs under a
--   live lease with running: true (the caller follows its stream instead of generating it twice);
-- * fail_expired_turns() marks failed the turns whose instance died (readers call it when they see
--   a lease run out; the pg_cron job maintain-turn-streams every minute for the others), and the
--   same job prunes the events of turns finished more than turn_events_retention_minutes ago;
-- * two settings: turn_lease_seconds (10) and turn_events_retention_minutes (60).
--
-- Why a table carried by logical decoding, rather than NOTIFY or logical messages alone: see
-- docs/durable-replies.md (the measurements of bench/turn_streams.py). The current definitions
-- are in supabase/schemas/52_turns.sql and 56_turn_streams.sql.

-- Settings ---------------------------------------------------------------------------------------
alter table public.ai_conversation_settings
  add column turn_lease_seconds integer not null default 10
    constraint ai_conversation_settings_turn_lease_range check (turn_lease_seconds between 2 and 3600),
  add column turn_events_retention_minutes integer not null default 60
    constraint ai_conversation_settings_turn_events_retention_range check (turn_events_retention_minutes between 1 and 10080);
comment on column public.ai_conversation_settings.turn_lease_seconds is
  'How long a running turn''s lease lasts: the generating API instance renews it every third of it; a '
  'turn whose lease ran out is marked failed (its instance is taken for dead) and its readers'' streams end.';
comment on column public.ai_conversation_settings.turn_events_retention_minutes is
  'How long the events of a finished turn''s stream are kept (resume by position); after that a reader '
  'gets the stored reply whole. Pruned every minute by pg_cron.';
grant update (turn_lease_seconds, turn_events_retention_minutes) on public.ai_conversation_settings to service_role;

-- The turn's lease, stop request and stream end -----------------------------------------------------
alter table public.ai_turns
  add column lease_expires_at timestamptz,
  add column stop_requested_at timestamptz,
  add column event_seq integer not null default 0
    constraint ai_turns_event_seq_check check (event_seq >= 0);
comment on column public.ai_turns.lease_expires_at is
  'While it runs: until when the API instance generating it has promised to renew this lease. Past '
  'it, the instance is taken for dead and the turn is marked failed (public.fail_expired_turns).';
comment on column public.ai_turns.stop_requested_at is
  'When an explicit stop was asked for (public.stop_turn): the generating instance stores what it '
  'generated and finishes the turn as stopped.';
comment on column public.ai_turns.event_seq is
  'The seq of the last event of the turn''s stream (public.ai_turn_events), written when it ends; '
  '0 while it runs.';

-- The turns in progress before this release ran in the request of an API process that the deploy
-- replaced: their lease runs out now, and the job marks them failed (a retry with their key reruns them).
update public.ai_turns set lease_expires_at = now() where state in ('queued', 'in_progress');

create table public.ai_turn_events (
  turn_id uuid not null references public.ai_turns (id) on delete cascade,
  seq integer not null
    constraint ai_turn_events_seq_check check (seq >= 1),
  last_seq integer not null,
  events jsonb not null
    constraint ai_turn_events_events_array check (jsonb_typeof(events) = 'array'),
  created_at timestamptz not null default now(),
  constraint ai_turn_events_pkey primary key (turn_id, seq),
  constraint ai_turn_events_seq_range check (last_seq >= seq)
);
comment on table public.ai_turn_events is
  'The event stream of each turn, in batches: a row holds the events seq..last_seq of one turn (text '
  'deltas, tools run), written by the API instance generating it; the last row of a finished turn is '
  'its end (type done, stopped or error), written by a trigger. Read back by position to resume a '
  'stream on any instance; pruned turn_events_retention_minutes after the turn finished.';
comment on column public.ai_turn_events.seq is 'The sequence number of the first event of the batch (1 is the first after the turn''s start).';
comment on column public.ai_turn_events.last_seq is 'The sequence number of the last event of the batch.';
comment on column public.ai_turn_events.events is
  'The events, in order: {type: delta, text}, {type: tool, ...}, and last {type: done | stopped | error}.';

-- Pruned by age: a BRIN index costs next to nothing per insert on an append-only table.
create index ai_turn_events_created_idx on public.ai_turn_events using brin (created_at);
-- The turns running now, by lease: what fail_expired_turns() looks for.
create index ai_turns_running_lease_idx on public.ai_turns (lease_expires_at)
  where state in ('queued', 'in_progress');

alter table public.ai_turn_events enable row level security;

-- A user reads the streams of the turns of its own live conversations (the rule of the turns'
-- policies); the events are written by the API as the service, and by the trigger below.
create policy "authenticated selects events of own turns" on public.ai_turn_events
  for select to authenticated
  using (exists (
    select 1 from public.ai_turns t join public.ai_conversations c on c.conversation_id = t.conversation_id
     where t.id = ai_turn_events.turn_id
       and private.is_own_live(c.user_id, c.expires_at, (select auth.uid()))));

revoke all on public.ai_turn_events from public, anon, authenticated, service_role;
grant select on public.ai_turn_events to authenticated;
grant select, insert, delete on public.ai_turn_events to service_role;

-- Leases ------------------------------------------------------------------------------------------
create function private.turn_lease()
returns timestamptz
language sql
stable
security invoker
set search_path = ''
as $$
  select now() + make_interval(secs => s.turn_lease_seconds) from public.ai_conversation_settings s where s.id
$$;
comment on function private.turn_lease() is 'When a lease taken or renewed now expires: now + turn_lease_seconds.';

create function private.turn_is_running(t public.ai_turns)
returns boolean
language sql
stable
begin atomic
  select t.state in ('queued', 'in_progress') and coalesce(t.lease_expires_at > now(), false);
end;
comment on function private.turn_is_running(public.ai_turns) is
  'Whether a turn runs now: not finished, and its lease not run out. Inlined by the planner.';

-- The stream's end ----------------------------------------------------------------------------------
-- Runs as the table owner: users finish their turns (finish_turn runs as the caller) but may not
-- write events themselves.
create function private.turn_stream_transition()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_seq integer;
begin
  if old.state in ('queued', 'in_progress') and new.state in ('completed', 'stopped', 'failed') then
    -- After the last batch written: the generating instance writes its batches before it finishes.
    select coalesce((select e.last_seq from public.ai_turn_events e
                      where e.turn_id = new.id order by e.seq desc limit 1), 0) + 1 into v_seq;
    insert into public.ai_turn_events (turn_id, seq, last_seq, events)
    values (new.id, v_seq, v_seq, jsonb_build_array(jsonb_build_object(
              'type', case new.state when 'completed' then 'done' when 'stopped' then 'stopped' else 'error' end)))
    on conflict do nothing;
    new.event_seq := v_seq;
    new.lease_expires_at := null;
  elsif old.state in ('completed', 'stopped', 'failed') and new.state in ('queued', 'in_progress') then
    -- A retry runs the turn again: its stream starts over.
    delete from public.ai_turn_events e where e.turn_id = new.id;
    new.event_seq := 0;
  end if;
  return new;
end
$$;
comment on function private.turn_stream_transition() is
  'Keeps a turn''s stream whole: when the turn ends (completed, stopped, failed), appends the stream''s '
  'last event (done, stopped or error) after the batches written and records its seq (event_seq); when '
  'a retry runs it again, its stream starts over.';

create trigger turn_stream_transition before update of state on public.ai_turns
  for each row execute function private.turn_stream_transition();

-- Writing ---------------------------------------------------------------------------------------
create function public.append_turn_events(p_turn_id uuid, p_seq integer, p_events jsonb)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_first integer;
  v_last integer;
begin
  if jsonb_typeof(p_events) is distinct from 'array' or jsonb_array_length(p_events) = 0 then
    raise exception 'events must be a non-empty JSON array' using errcode = '22023';
  end if;
  if p_seq is null or p_seq < 1 then
    raise exception 'seq must be at least 1' using errcode = '22023';
  end if;
  -- The turn's row, share-locked: the end of its stream (the trigger, when its state changes)
  -- waits for this batch to commit and comes after it, never at the same seq.
  perform 1 from public.ai_turns t where t.id = p_turn_id and t.state in ('queued', 'in_progress') for share;
  if not found then
    return false;
  end if;
  select e.seq, e.last_seq into v_first, v_last
    from public.ai_turn_events e where e.turn_id = p_turn_id order by e.seq desc limit 1;
  if v_first = p_seq and v_last = p_seq + jsonb_array_length(p_events) - 1 then
    return true;  -- written already: a retry whose answer was lost
  end if;
  if p_seq <> coalesce(v_last, 0) + 1 then
    raise exception 'the batch starts at %, the stream of turn % continues at %', p_seq, p_turn_id, coalesce(v_last, 0) + 1
      using errcode = '22023', detail = json_build_object('reason', 'turn_events_out_of_order',
                                                          'expected_seq', coalesce(v_last, 0) + 1)::text;
  end if;
  insert into public.ai_turn_events (turn_id, seq, last_seq, events)
  values (p_turn_id, p_seq, p_seq + jsonb_array_length(p_events) - 1, p_events);
  return true;
end
$$;
comment on function public.append_turn_events(uuid, integer, jsonb) is
  'Writes a batch of a running turn''s events (p_events, consecutive from p_seq), which must continue '
  'its stream: p_seq is the seq after the last one written (22023, reason turn_events_out_of_order, '
  'otherwise: no gap, no overlap); the last batch written again is answered true (a retry). False '
  'when nothing was written because the turn is not running any more (finished, failed by its lease, '
  'deleted): the generating instance then stops.';

create function public.renew_turn_leases(p_turn_ids uuid[])
returns json
language sql
security invoker
set search_path = ''
as $$
  with renewed as (
    update public.ai_turns t
       set lease_expires_at = private.turn_lease()
     where t.id = any(p_turn_ids) and t.state in ('queued', 'in_progress')
    returning t.id, t.stop_requested_at
  )
  select json_build_object(
    'lease_seconds', (select s.turn_lease_seconds from public.ai_conversation_settings s where s.id),
    'stop', coalesce((select json_agg(r.id) from renewed r where r.stop_requested_at is not null), '[]'::json),
    'ended', coalesce((select json_agg(i.id) from unnest(p_turn_ids) i(id)
                        where not exists (select 1 from renewed r where r.id = i.id)), '[]'::json))
$$;
comment on function public.renew_turn_leases(uuid[]) is
  'Renews the leases of the turns an API instance generates (one call for all of them) and answers '
  'lease_seconds (renew every third of it), the turns whose stop was asked for (stop) and those that '
  'are not running any more (ended: finished elsewhere, failed by their lease, deleted).';

create function public.stop_turn(p_turn_id text)
returns json
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_turn public.ai_turns;
begin
  select * into v_turn from public.ai_turns t where t.id = private.turn_uuid(p_turn_id) for update;
  if v_turn.id is null or not exists (select 1 from public.ai_conversations c
                                       where c.conversation_id = v_turn.conversation_id and c.expires_at > now()) then
    perform private.turn_not_found(p_turn_id);
  end if;
  if v_turn.state in ('queued', 'in_progress') and v_turn.stop_requested_at is null then
    update public.ai_turns t set stop_requested_at = now(), updated_at = now()
     where t.id = v_turn.id
    returning * into v_turn;
    -- Reaches the generating instance at once through its live feed (and within a third of the
    -- lease through its renewal otherwise).
    perform pg_logical_emit_message(true, 'ai_turns.stop', v_turn.id::text);
  end if;
  return private.turn_json(v_turn);
end
$$;
comment on function public.stop_turn(text) is
  'Asks for a running turn to stop (its id, or a response id): the instance generating it stores what '
  'it generated and finishes it as stopped. Idempotent: a turn already asked, or finished, is answered '
  'as it is. P0002 for a turn that is unknown, not the caller''s or whose conversation expired.';

create function public.fail_expired_turns(p_turn_id uuid default null)
returns integer
language sql
security invoker
set search_path = ''
as $$
  with failed as (
    update public.ai_turns t
       set state = 'failed',
           result = jsonb_build_object('error', jsonb_build_object(
             'code', 'turn_abandoned',
             'message', 'the API instance generating this reply stopped renewing its lease (it stopped or lost the database)')),
           updated_at = now(),
           finished_at = now()
     where t.state in ('queued', 'in_progress') and t.lease_expires_at < now()
       and (p_turn_id is null or t.id = p_turn_id)
    returning 1
  )
  select count(*)::integer from failed
$$;
comment on function public.fail_expired_turns(uuid) is
  'Marks failed (error turn_abandoned) the running turns whose lease ran out (all of them, or p_turn_id): '
  'their instance died. Their streams end with an error event. Returns how many.';

-- Reading ---------------------------------------------------------------------------------------
create function public.get_turn(p_turn_id text, p_after_event integer default null, p_limit integer default 1000)
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
  '(user_message_id) and the output it stored; with p_after_event, also the batches of its stream '
  'holding events after that seq (at most p_limit batches, in order). P0002 when it is unknown, not '
  'visible to the caller or its conversation expired.';

-- Maintenance -------------------------------------------------------------------------------------
create function private.prune_turn_events()
returns integer
language sql
security invoker
set search_path = ''
as $$
  with cutoff as (
    select now() - make_interval(mins => s.turn_events_retention_minutes) as at
      from public.ai_conversation_settings s where s.id
  ), pruned as (
    delete from public.ai_turn_events e
     using cutoff
     where e.created_at < cutoff.at
       and exists (select 1 from public.ai_turns t
                    where t.id = e.turn_id and t.state not in ('queued', 'in_progress') and t.finished_at < cutoff.at)
    returning 1
  )
  select count(*)::integer from pruned
$$;
comment on function private.prune_turn_events() is
  'Deletes the stream events of turns finished more than turn_events_retention_minutes ago; returns how many batches.';

create function private.maintain_turn_streams()
returns json
language sql
security invoker
set search_path = ''
as $$
  select json_build_object('failed', public.fail_expired_turns(), 'pruned', private.prune_turn_events())
$$;
comment on function private.maintain_turn_streams() is
  'The pg_cron job maintain-turn-streams (every minute): fails the turns whose lease ran out and prunes '
  'the events of turns finished more than turn_events_retention_minutes ago.';

-- The turn as the store answers it, with its lease, stop request and stream end --------------------
create or replace function private.turn_json(t public.ai_turns)
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

-- Begin: a new turn's lease; a retry of a running turn follows it --------------------------------
create or replace function public.begin_turn(
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
  v_running boolean := false;
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

  -- A retry of a turn that still runs under a live lease (on this instance or another) leaves it
  -- running: the caller follows its stream (running) instead of generating it a second time. One
  -- that failed or stopped runs again, under a new lease.
  insert into public.ai_turns (id, conversation_id, kind, idempotency_key, request, input_ids, last_seq,
                               lease_expires_at)
  values (coalesce(p_turn_id, gen_random_uuid()), v_id, p_kind, p_idempotency_key, p_request, v_ids, v_last,
          private.turn_lease())
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
  'on a replayed p_idempotency_key, what the first attempt stored (reply, tool_results), and running: '
  'that attempt still runs under a live lease (follow its stream, do not generate it again). A new or '
  'rerun turn gets a lease of turn_lease_seconds. With p_store false nothing is written: the history is '
  'the window of what is stored, for what the input leaves.';

-- Every minute: fail the turns whose instance died, prune the streams past their retention ----------
select cron.schedule('maintain-turn-streams', '* * * * *', 'select private.maintain_turn_streams()');

-- Privileges, each function's explicitly: PUBLIC executes new functions by default
-- (20261209410000_default_privileges_restored.sql); an entry without roles is its owner's only.
do $$
declare
  v_grant record;
begin
  for v_grant in
    select g.fn::regprocedure as fn, g.roles
      from (values
        ('public.append_turn_events(uuid, integer, jsonb)', 'service_role'),
        ('public.renew_turn_leases(uuid[])', 'service_role'),
        ('public.fail_expired_turns(uuid)', 'service_role'),
        ('public.stop_turn(text)', 'authenticated, service_role'),
        ('public.get_turn(text, integer, integer)', 'authenticated, service_role'),
        ('private.turn_lease()', 'authenticated, service_role'),
        ('private.turn_is_running(public.ai_turns)', 'authenticated, service_role'),
        -- pg_cron's job and the trigger
        ('private.maintain_turn_streams()', null),
        ('private.prune_turn_events()', null),
        ('private.turn_stream_transition()', null)
      ) g(fn, roles)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', v_grant.fn);
    if v_grant.roles is not null then
      execute format('grant execute on function %s to %s', v_grant.fn, v_grant.roles);
    end if;
  end loop;
end
$$;
