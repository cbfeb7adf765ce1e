-- Rule: stop_turn asks a running turn to stop. It is idempotent (asked again, or for a finished
-- turn, it answers the turn as it is and changes nothing); a user stops only the turns of its own
-- live conversations (another's is not found, as an unknown one); the service stops any; anon none.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(12);

select public.create_conversation('pgtap-st-a', '7f1e0000-0000-4000-8000-0000000048a1') is not null as setup \gset
select public.create_conversation('pgtap-st-b', '7f1e0000-0000-4000-8000-0000000048b1') is not null as setup \gset
select (public.begin_turn('[{"role": "user", "content": "long"}]', 'pgtap-st-a')::jsonb -> 'turn' ->> 'id') as turn \gset
select (public.begin_turn('[{"role": "user", "content": "bob''s"}]', 'pgtap-st-b')::jsonb -> 'turn' ->> 'id') as bobs \gset
select (public.begin_turn('[{"role": "user", "content": "short"}]', 'pgtap-st-a')::jsonb -> 'turn' ->> 'id') as done \gset
select public.finish_turn(:'done', '[{"role": "assistant", "content": "ok"}]') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000048b1');
select throws_ok(format($$ select public.stop_turn(%L) $$, :'turn'), 'P0002', null, 'another user cannot stop the turn');
select is((select stop_requested_at from public.ai_turns where id = :'bobs'::uuid), null, '(setup: Bob''s turn runs)');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000048a1');
select public.stop_turn(:'turn')::jsonb as stopped \gset
select is(:'stopped'::jsonb ->> 'state', 'in_progress', 'the owner asks: the turn runs until its instance stops it');
select is((:'stopped'::jsonb ->> 'stop_requested_at')::timestamptz, now(), 'the stop is recorded');
-- A minute later it is asked again: the first ask stands.
select tests.clear_authentication();
update public.ai_turns set stop_requested_at = now() - interval '1 minute', updated_at = now() - interval '1 minute'
 where id = :'turn'::uuid;
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000048a1');
select is((public.stop_turn('resp_' || replace(:'turn', '-', ''))::jsonb ->> 'stop_requested_at')::timestamptz, now() - interval '1 minute',
          'asked again (by its response id), the first ask stands');
select is((select updated_at from public.ai_turns where id = :'turn'::uuid), now() - interval '1 minute', 'and the turn is not touched');
select is(public.stop_turn(:'done')::jsonb, (select private.turn_json(t)::jsonb from public.ai_turns t where t.id = :'done'::uuid),
          'a finished turn is answered as it is');
select is((select stop_requested_at from public.ai_turns where id = :'done'::uuid), null, 'and not marked');
select throws_ok($$ select public.stop_turn('00000000-0000-4000-8000-00000000480f') $$, 'P0002', null, 'an unknown turn is not found');

select tests.authenticate_as_service();
select isnt(public.stop_turn(:'bobs')::jsonb ->> 'stop_requested_at', null, 'the service stops any user''s turn');

select tests.authenticate_as_anon();
select throws_ok(format($$ select public.stop_turn(%L) $$, :'bobs'), '42501', null, 'anon stops nothing');

-- An expired conversation's turn is gone.
select tests.clear_authentication();
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-st-b';
select tests.authenticate_as_service();
select throws_ok(format($$ select public.stop_turn(%L) $$, :'bobs'), 'P0002', null, 'a turn of an expired conversation is not found');

select * from finish();
rollback;
