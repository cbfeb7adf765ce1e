-- Rule: get_turn reads one turn as its caller, under RLS: a user reads the turns of its own live
-- conversations (with its stream from a position, a page at a time), another user's turn is not
-- found (P0002, as an unknown one), so is a turn whose conversation expired; the service reads any;
-- anon none.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(10);

select public.create_conversation('pgtap-gt-a', '7f1e0000-0000-4000-8000-0000000049a1') is not null as setup \gset
select (public.begin_turn('[{"role": "user", "content": "hello"}]', 'pgtap-gt-a')::jsonb -> 'turn' ->> 'id') as turn \gset
select tests.authenticate_as_service();
select public.append_turn_events(:'turn', 1, '[{"type": "delta", "text": "a"}, {"type": "delta", "text": "b"}]') as setup \gset
select public.append_turn_events(:'turn', 3, '[{"type": "delta", "text": "c"}]') as setup \gset
select public.append_turn_events(:'turn', 4, '[{"type": "delta", "text": "d"}]') as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000049a1');
select is(public.get_turn(:'turn')::jsonb -> 'turn' ->> 'state', 'in_progress', 'the owner reads its turn');
select is(public.get_turn(:'turn')::jsonb -> 'events', 'null'::jsonb, 'without a position, not its stream');
select is((select jsonb_agg(b -> 'seq') from jsonb_array_elements(public.get_turn(:'turn', 0)::jsonb -> 'events') b),
          '[1, 3, 4]'::jsonb, 'from the start: every batch, in order');
select is((select jsonb_agg(b -> 'seq') from jsonb_array_elements(public.get_turn(:'turn', 2)::jsonb -> 'events') b),
          '[3, 4]'::jsonb, 'after a position: the batches holding later events');
select is((select jsonb_agg(b -> 'seq') from jsonb_array_elements(public.get_turn(:'turn', 1, 1)::jsonb -> 'events') b),
          '[1]'::jsonb, 'a batch holding the position''s next event is included; a page at a time');
select is(public.get_turn('resp_' || replace(:'turn', '-', ''))::jsonb -> 'turn' ->> 'id', :'turn', 'by its response id too');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000049b1');
select throws_ok(format($$ select public.get_turn(%L, 0) $$, :'turn'), 'P0002', null, 'another user''s turn is not found');

select tests.authenticate_as_anon();
select throws_ok(format($$ select public.get_turn(%L) $$, :'turn'), '42501', null, 'anon reads no turn');

select tests.authenticate_as_service();
select is(public.get_turn(:'turn')::jsonb -> 'turn' ->> 'id', :'turn', 'the service reads any');
select tests.clear_authentication();
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-gt-a';
select tests.authenticate_as_service();
select throws_ok(format($$ select public.get_turn(%L) $$, :'turn'), 'P0002', null, 'a turn of an expired conversation is not found');

select * from finish();
rollback;
