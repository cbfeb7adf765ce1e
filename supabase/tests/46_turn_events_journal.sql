-- Rule: a turn's stream is journaled in order (append_turn_events). A batch continues the stream:
-- it starts right after the last event written (no gap, no overlap: 22023); the last batch
-- written again is answered true and stored once (a write whose answer was lost); a turn that is
-- not running any more (finished, failed) takes nothing and answers false (its instance stops).
-- Only the service writes events here (a user writes its turn's last batch only with its output,
-- through finish_turn: 83); a user reads the events of its own turns only.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(14);

select public.create_conversation('pgtap-tj-a', '7f1e0000-0000-4000-8000-0000000046a1') is not null as setup \gset
select public.create_conversation('pgtap-tj-b', '7f1e0000-0000-4000-8000-0000000046b1') is not null as setup \gset
select (public.begin_turn('[{"role": "user", "content": "count"}]', 'pgtap-tj-a')::jsonb -> 'turn' ->> 'id') as turn \gset
select tests.authenticate_as_service();

select is(public.append_turn_events(:'turn', 1, '[{"type": "delta", "text": "one "}, {"type": "delta", "text": "two "}]'), true,
          'the first batch starts at 1');
select is(public.append_turn_events(:'turn', 3, '[{"type": "delta", "text": "three"}]'), true,
          'the next one right after the last event written');
select throws_ok(format($$ select public.append_turn_events(%L, 5, '[{"type": "delta", "text": "five"}]') $$, :'turn'),
                 '22023', null, 'a batch that leaves a gap is refused');
select throws_ok(format($$ select public.append_turn_events(%L, 2, '[{"type": "delta", "text": "again"}]') $$, :'turn'),
                 '22023', null, 'so is one that overlaps what was written');
select is(public.append_turn_events(:'turn', 3, '[{"type": "delta", "text": "three"}]'), true,
          'the last batch written again is answered as written');
select results_eq(
  format($$ select seq, last_seq from public.ai_turn_events where turn_id = %L order by seq $$, :'turn'),
  $$ values (1, 2), (3, 3) $$,
  'the stream holds each batch once, in order, with no gap');
select throws_ok(format($$ select public.append_turn_events(%L, 4, '[]') $$, :'turn'), '22023', null,
                 'an empty batch is refused');
select throws_ok(format($$ select public.append_turn_events(%L, 0, '[{"type": "delta", "text": "x"}]') $$, :'turn'), '22023', null,
                 'so is a seq before the first event');

-- A user reads its own turn's stream, never another's, and writes none.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000046a1');
select is((select count(*)::integer from public.ai_turn_events where turn_id = :'turn'::uuid), 2, 'the owner reads its stream');
select throws_ok(format($$ select public.append_turn_events(%L, 4, '[{"type": "delta", "text": "four"}]') $$, :'turn'),
                 '42501', null, 'but may not write to it');
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000046b1');
select is_empty(format($$ select 1 from public.ai_turn_events where turn_id = %L $$, :'turn'), 'another user reads none of it');
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.ai_turn_events $$, '42501', null, 'anon reads no stream');

-- Finished: nothing more is taken.
select tests.authenticate_as_service();
select public.finish_turn(:'turn', '[{"role": "assistant", "content": "one two three"}]') is not null as setup \gset
select is(public.append_turn_events(:'turn', 5, '[{"type": "delta", "text": "late"}]'), false,
          'a finished turn takes no more events: false');
select is(public.append_turn_events('00000000-0000-4000-8000-00000000460f', 1, '[{"type": "delta", "text": "x"}]'), false,
          'nor does an unknown turn');

select * from finish();
rollback;
