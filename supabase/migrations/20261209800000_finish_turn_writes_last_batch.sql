-- The last batch of a turn's stream, written by finish_turn itself (issues 19 and 23).
--
-- The instance generating a turn wrote every batch of its stream with append_turn_events, the last
-- one just before finish_turn stored the output: a streamed reply shorter than TURN_FLUSH_SECONDS
-- (most of them, with a fast model) cost a round trip more than the same turn without the journal.
-- finish_turn now takes that batch (p_events, from p_event_seq) and writes it in its own
-- transaction, before the turn's state changes, so the stream's end (the trigger's) still comes
-- right after it. The rule a batch follows (it continues the stream: no gap, no overlap; the last
-- batch written again is a retry) lives once, in private.append_turn_batch, which both functions
-- call. finish_turn leaves out a batch that would not continue the stream rather than refuse the
-- output: the stream stays gap-free and its end carries the whole reply.
--
-- Users finish their own turns (finish_turn runs as the caller) and may not write events
-- otherwise: the helper is security definer and checks for itself that the turn runs and, for a
-- user, that it is in one of their live conversations.

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

create or replace function public.append_turn_events(p_turn_id uuid, p_seq integer, p_events jsonb)
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

drop function public.finish_turn(uuid, jsonb, text, jsonb);
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

revoke all on function private.append_turn_batch(uuid, integer, jsonb) from public, anon, authenticated, service_role;
grant execute on function private.append_turn_batch(uuid, integer, jsonb) to authenticated, service_role;
revoke all on function public.finish_turn(uuid, jsonb, text, jsonb, jsonb, integer) from public, anon, authenticated, service_role;
grant execute on function public.finish_turn(uuid, jsonb, text, jsonb, jsonb, integer) to authenticated, service_role;
