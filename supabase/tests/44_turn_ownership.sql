-- Rule: a turn is its conversation owner's. Users read, finish, continue and delete only the turns
-- of their own live conversations (RLS on ai_turns, the ownership rule of the messages); anon
-- nothing. A response is the messages its turn recorded: a message of another conversation that
-- names the response's id in its metadata is not part of it and makes no response (issue 22,
-- item 9: Bob could make the service read his text as Alice's response).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(10);

select public.create_conversation('pgtap-own-a', '7f1e0000-0000-4000-8000-0000000044a1') is not null as setup \gset
select public.create_conversation('pgtap-own-b', '7f1e0000-0000-4000-8000-0000000044b1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000044a1');
select public.begin_turn('[{"role": "user", "content": "alice asks"}]', 'pgtap-own-a', p_kind => 'response',
  p_token_budget => 1000, p_turn_id => '00000000-0000-4000-8000-0000000044a1') is not null as setup \gset
select public.finish_turn('00000000-0000-4000-8000-0000000044a1', '[{"role": "assistant", "content": "alice''s answer"}]') is not null as setup \gset

-- Bob, in his own conversation, claims Alice's response id.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000044b1');
select public.append_message('pgtap-own-b', 'assistant', 'bob''s text',
  '{"openai": {"response_id": "resp_000000000000400080000000000044a1", "source": "output"}}') is not null as setup \gset
select is_empty($$ select 1 from public.ai_turns where conversation_id = 'pgtap-own-a' $$, 'B sees none of A''s turns');
select throws_ok($$ select public.get_response('resp_000000000000400080000000000044a1') $$, 'P0002', null, 'B cannot read A''s response');
select throws_ok($$ select public.finish_turn('00000000-0000-4000-8000-0000000044a1', '[{"role": "assistant", "content": "x"}]', 'completed') $$,
  'P0002', null, 'B cannot finish A''s turn');
select throws_ok($$ select public.delete_response('resp_000000000000400080000000000044a1') $$, 'P0002', null, 'B cannot delete A''s response');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "x"}]', p_previous_response_id => 'resp_000000000000400080000000000044a1',
                                             p_kind => 'response', p_token_budget => 1000) $$,
  'P0002', null, 'B cannot continue A''s response');
update public.ai_turns set state = 'failed' where id = '00000000-0000-4000-8000-0000000044a1';
select tests.authenticate_as_service();
select is((select state from public.ai_turns where id = '00000000-0000-4000-8000-0000000044a1'), 'completed',
  'nor change it directly');

-- The service reads Alice's response: Alice's messages only.
select is((select array_agg(m ->> 'content') from json_array_elements(public.get_response('resp_000000000000400080000000000044a1') -> 'output') m),
          array['alice''s answer'], 'a response is its turn''s messages, never one that names its id elsewhere');
select throws_ok($$ select public.get_response('resp_000000000000400080000000000044b9') $$, 'P0002', null,
  'and a message naming an id makes no response');

select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.ai_turns $$, '42501', null, 'anon may not read turns');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "x"}]') $$, '42501', null, 'nor begin one');

select * from finish();
rollback;
