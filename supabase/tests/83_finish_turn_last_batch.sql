-- Rule: finish_turn writes the last batch of a turn's stream (p_events from p_event_seq) in the
-- transaction that stores the output, before the stream's end: the rule of append_turn_events (it
-- continues the stream; written again, it is a retry), except that a batch that would leave a gap
-- or overlap is left out instead of refused (the output is stored all the same, the stream stays
-- gap-free). The helper that writes batches (private.append_turn_batch) runs as its owner, so it
-- checks for itself: a user writes only to the running turns of its own live conversations.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(12);

select public.create_conversation('pgtap-lb-a', '7f1e0000-0000-4000-8000-0000000083a1') is not null as setup \gset
select public.create_conversation('pgtap-lb-b', '7f1e0000-0000-4000-8000-0000000083b1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000083a1');
select (public.begin_turn('[{"role": "user", "content": "one"}]', 'pgtap-lb-a', p_idempotency_key => 'lb1')::jsonb -> 'turn' ->> 'id') as done \gset
select (public.begin_turn('[{"role": "user", "content": "two"}]', 'pgtap-lb-a')::jsonb -> 'turn' ->> 'id') as gap \gset
select (public.begin_turn('[{"role": "user", "content": "three"}]', 'pgtap-lb-a')::jsonb -> 'turn' ->> 'id') as failing \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000083b1');
select (public.begin_turn('[{"role": "user", "content": "bob"}]', 'pgtap-lb-b')::jsonb -> 'turn' ->> 'id') as bobs \gset
select tests.authenticate_as_service();
select public.append_turn_events(:'done', 1, '[{"type": "delta", "text": "a"}, {"type": "delta", "text": "b"}]') as setup \gset
select public.append_turn_events(:'gap', 1, '[{"type": "delta", "text": "x"}]') as setup \gset

-- The owner finishes its turn with the last batch (finish_turn runs as the caller).
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000083a1');
select public.finish_turn(:'done', '[{"role": "assistant", "content": "abc"}]',
                          p_events => '[{"type": "delta", "text": "c"}]', p_event_seq => 3) is not null as setup \gset
select tests.authenticate_as_service();
select results_eq(
  format($$ select seq, last_seq, events from public.ai_turn_events where turn_id = %L order by seq $$, :'done'),
  format($$ values (1, 2, '[{"type": "delta", "text": "a"}, {"type": "delta", "text": "b"}]'::jsonb),
                   (3, 3, '[{"type": "delta", "text": "c"}]'::jsonb), (4, 4, '[{"type": "done"}]'::jsonb) $$),
  'the last batch is written with the output, and the stream ends right after it');
select is((select event_seq from public.ai_turns where id = :'done'::uuid), 4, 'the turn records its end after the batch');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000083a1');
select is((public.finish_turn(:'done', '[{"role": "assistant", "content": "abc"}]',
                              p_events => '[{"type": "delta", "text": "c"}]', p_event_seq => 3)::jsonb ->> 'replayed')::boolean,
          true, 'a retry answers the stored output');
select public.finish_turn(:'gap', '[{"role": "assistant", "content": "xy"}]',
                          p_events => '[{"type": "delta", "text": "y"}]', p_event_seq => 5) is not null as setup \gset
select tests.authenticate_as_service();
select is((select count(*)::integer from public.ai_turn_events where turn_id = :'done'::uuid), 3, 'and writes nothing twice');
select results_eq(
  format($$ select seq, events from public.ai_turn_events where turn_id = %L order by seq $$, :'gap'),
  $$ values (1, '[{"type": "delta", "text": "x"}]'::jsonb), (2, '[{"type": "done"}]'::jsonb) $$,
  'a batch that would leave a gap is left out: the stream stays gap-free');
select is((select state from public.ai_turns where id = :'gap'::uuid), 'completed', 'and the output is stored all the same');

-- Bad batches are refused before anything is stored.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000083a1');
select throws_ok(format($$ select public.finish_turn(%L, '[{"role": "assistant", "content": "z"}]', p_events => '[]', p_event_seq => 1) $$, :'failing'),
                 '22023', null, 'an empty batch is refused');
select throws_ok(format($$ select public.finish_turn(%L, '[{"role": "assistant", "content": "z"}]', p_events => '[{"type": "delta", "text": "z"}]') $$, :'failing'),
                 '22023', null, 'so is a batch without its seq');

-- Only to one's own running turns.
select is(private.append_turn_batch(:'bobs', 1, '[{"type": "delta", "text": "forged"}]'), false,
          'a user writes nothing to another user''s turn');
select tests.authenticate_as_anon();
select throws_ok(format($$ select private.append_turn_batch(%L, 1, '[{"type": "delta", "text": "forged"}]') $$, :'bobs'),
                 '42501', null, 'anon may not call the helper');
select tests.authenticate_as_service();
select is_empty(format($$ select 1 from public.ai_turn_events where turn_id = %L $$, :'bobs'), 'the other user''s stream is untouched');

-- A failed turn's batch goes before its error.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000083a1');
select public.finish_turn(:'failing', '[]', 'failed', '{"error": {"code": "provider_timeout"}}',
                          '[{"type": "delta", "text": "half"}]', 1) is not null as setup \gset
select tests.authenticate_as_service();
select results_eq(
  format($$ select seq, events from public.ai_turn_events where turn_id = %L order by seq $$, :'failing'),
  $$ values (1, '[{"type": "delta", "text": "half"}]'::jsonb), (2, '[{"type": "error"}]'::jsonb) $$,
  'a failed turn''s last batch comes before its error');

select * from finish();
rollback;
