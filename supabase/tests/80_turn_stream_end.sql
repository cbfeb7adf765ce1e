-- Rule: a turn's stream always ends, by trigger, whatever finishes the turn: when its state becomes
-- completed, stopped or failed, the event done, stopped or error is appended right after the
-- events written, its seq recorded (event_seq) and the lease released. When a retry runs a
-- failed turn again, its stream starts over. Users cannot write the end themselves.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(9);

select public.create_conversation('pgtap-se-a', '7f1e0000-0000-4000-8000-0000000080a1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000080a1');
select (public.begin_turn('[{"role": "user", "content": "one"}]', 'pgtap-se-a', p_idempotency_key => 'k1')::jsonb -> 'turn' ->> 'id') as done \gset
select (public.begin_turn('[{"role": "user", "content": "two"}]', 'pgtap-se-a')::jsonb -> 'turn' ->> 'id') as stopped \gset
select (public.begin_turn('[{"role": "user", "content": "three"}]', 'pgtap-se-a', p_idempotency_key => 'k3')::jsonb -> 'turn' ->> 'id') as failed \gset
select tests.authenticate_as_service();
select public.append_turn_events(:'done', 1, '[{"type": "delta", "text": "a"}, {"type": "delta", "text": "b"}]') as setup \gset
select public.append_turn_events(:'stopped', 1, '[{"type": "delta", "text": "half"}]') as setup \gset

-- The owner finishes its turns (finish_turn runs as the caller); the end is the trigger's.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000080a1');
select public.finish_turn(:'done', '[{"role": "assistant", "content": "ab"}]') is not null as setup \gset
select public.finish_turn(:'stopped', '[{"role": "assistant", "content": "half", "metadata": {"finish_reason": "stopped"}}]', 'stopped') is not null as setup \gset
select public.finish_turn(:'failed', '[]', 'failed', '{"error": {"code": "provider_timeout"}}') is not null as setup \gset
select tests.authenticate_as_service();

select results_eq(
  format($$ select seq, last_seq, events from public.ai_turn_events where turn_id = %L order by seq $$, :'done'),
  format($$ values (1, 2, '[{"type": "delta", "text": "a"}, {"type": "delta", "text": "b"}]'::jsonb), (3, 3, '[{"type": "done"}]'::jsonb) $$),
  'a completed turn''s stream ends with done, right after its events');
select results_eq(
  format($$ select seq, events from public.ai_turn_events where turn_id = %L order by seq $$, :'stopped'),
  $$ values (1, '[{"type": "delta", "text": "half"}]'::jsonb), (2, '[{"type": "stopped"}]'::jsonb) $$,
  'a stopped one with stopped');
select results_eq(
  format($$ select seq, events from public.ai_turn_events where turn_id = %L order by seq $$, :'failed'),
  $$ values (1, '[{"type": "error"}]'::jsonb) $$,
  'a failed one with error, even with nothing written before');
select results_eq(
  format($$ select id::text, event_seq, lease_expires_at is null from public.ai_turns where id in (%L, %L, %L) order by event_seq $$,
         :'failed', :'stopped', :'done'),
  format($$ values (%L, 1, true), (%L, 2, true), (%L, 3, true) $$, :'failed', :'stopped', :'done'),
  'each turn records its end''s seq and holds no lease any more');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000080a1');
select is(public.finish_turn(:'done', '[{"role": "assistant", "content": "ab"}]')::jsonb ->> 'replayed', 'true', '(setup: finishing again replays)');
select tests.authenticate_as_service();
select is((select count(*)::integer from public.ai_turn_events where turn_id = :'done'::uuid), 2, 'and ends the stream only once');

-- A retry runs the failed turn again: a new stream, a new lease.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000080a1');
select public.begin_turn('[{"role": "user", "content": "three"}]', 'pgtap-se-a', p_idempotency_key => 'k3') is not null as setup \gset
select tests.authenticate_as_service();
select is_empty(format($$ select 1 from public.ai_turn_events where turn_id = %L $$, :'failed'), 'a rerun turn''s stream starts over');
select results_eq(format($$ select state, event_seq, lease_expires_at is not null from public.ai_turns where id = %L $$, :'failed'),
                  $$ values ('in_progress'::text, 0, true) $$, 'it runs again under a new lease');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000080a1');
select throws_ok(format($$ insert into public.ai_turn_events (turn_id, seq, last_seq, events) values (%L, 9, 9, '[{"type": "done"}]') $$, :'failed'),
                 '42501', null, 'a user cannot write an end itself');

select * from finish();
rollback;
