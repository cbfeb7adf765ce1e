-- Turn streams: a reply in progress is as durable as a message (issue 19).
--
-- A turn runs to its end whatever its client does; only an explicit stop ends it early. While it
-- runs, the API instance generating it (the one holding its lease) writes its events (the reply's
-- text deltas, the tools it ran) to ai_turn_events in small batches, each batch one row carrying a
-- run of consecutive sequence numbers; the API's live feed (logical decoding, wal2json) carries the
-- rows to every other instance, and any instance replays a stream from any position by reading
-- them back. When the turn ends (completed, stopped or failed, by whatever path), a trigger appends
-- the stream's last event, so a stream always ends with one: the pieces before it joined are the
-- stored reply.
--
-- Crashes: the generating instance renews the turn's lease (renew_turn_leases) every third of
-- turn_lease_seconds. A turn whose lease ran out is marked failed by fail_expired_turns(), which
-- readers of the turn call when they see the lease run out and a pg_cron job calls every minute for
-- the turns nobody reads.
--
-- Retention: a finished turn's events are kept turn_events_retention_minutes, then pruned every
-- minute by the same pg_cron job; after that a reader gets the stored reply whole.

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
create function private.append_turn_batch(p_turn_id uuid, p_seq integer, p_events jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_role text := current_setting('role');
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
  -- waits for this batch to commit and comes after it, never at the same seq. Executable by users
  -- (finish_turn runs as the caller): a user writes only to the running turns of its own live
  -- conversations.
  perform 1 from public.ai_turns t join public.ai_conversations c on c.conversation_id = t.conversation_id
   where t.id = p_turn_id and t.state in ('queued', 'in_progress')
     and (v_role not in ('anon', 'authenticated')
          or coalesce(private.is_own_live(c.user_id, c.expires_at, auth.uid()), false))
     for share of t;
  if not found then
    return false;
  end if;
  select e.seq, e.last_seq into v_first, v_last
    from public.ai_turn_events e where e.turn_id = p_turn_id order by e.seq desc limit 1;
  if v_first = p_seq and v_last = p_seq + jsonb_array_length(p_events) - 1 then
    return true;  -- written already: a retry whose answer was lost
  end if;
  if p_seq <> coalesce(v_last, 0) + 1 then
    return null;  -- does not continue the stream
  end if;
  insert into public.ai_turn_events (turn_id, seq, last_seq, events)
  values (p_turn_id, p_seq, p_seq + jsonb_array_length(p_events) - 1, p_events);
  return true;
end
$$;
comment on function private.append_turn_batch(uuid, integer, jsonb) is
  'Writes a batch of a running turn''s events (p_events, consecutive from p_seq) if it continues the '
  'stream: true when written (or written already: a retry), false when the turn is not running (or, '
  'for a user, not in one of its live conversations), null when p_seq is not the seq after the last '
  'written (a gap or an overlap: nothing written). 22023 for an empty batch or a seq below 1. The one '
  'rule of append_turn_events and of finish_turn''s last batch.';

create function public.append_turn_events(p_turn_id uuid, p_seq integer, p_events jsonb)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_written boolean := private.append_turn_batch(p_turn_id, p_seq, p_events);
  v_next integer;
begin
  if v_written is null then
    select coalesce(max(e.last_seq), 0) + 1 into v_next from public.ai_turn_events e where e.turn_id = p_turn_id;
    raise exception 'the batch starts at %, the stream of turn % continues at %', p_seq, p_turn_id, v_next
      using errcode = '22023', detail = json_build_object('reason', 'turn_events_out_of_order',
                                                          'expected_seq', v_next)::text;
  end if;
  return v_written;
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
