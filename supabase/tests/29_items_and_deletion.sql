-- Rule: messages are immutable but deletable, and the item functions of the OpenAI-compatible API.
--
-- Whoever may write a conversation (its owner, the service) may delete one of its messages; a
-- deleted seq is never handed out again; nobody may update a message. append_messages appends
-- all or none; list_messages pages from an item id; get_message and delete_message find a message
-- by its idempotency key or by <prefix>_<uuid hex>; get_response / delete_response see a
-- response (its turn's messages) under RLS only. Another user gets P0002 everywhere.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(25);

-- A = 7f1e0000-0000-4000-8000-0000000000a1, B = 7f1e0000-0000-4000-8000-0000000000b1
select public.create_conversation('pgtap-items-a', '7f1e0000-0000-4000-8000-0000000000a1') is not null as setup \gset
select public.create_conversation('pgtap-items-b', '7f1e0000-0000-4000-8000-0000000000b1') is not null as setup \gset
-- B's response (a turn of kind response, as the /v1 face stores one).
select public.begin_turn('[{"role": "user", "content": "b1", "idempotency_key": "msg_b1"}]', 'pgtap-items-b',
  p_kind => 'response', p_token_budget => 1000, p_turn_id => '00000000-0000-4000-8000-0000000000b1') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000a1');

-- A's response: its input one, its output two; then a message of its own.
select public.begin_turn('[{"role": "user", "content": "one", "idempotency_key": "msg_one"}]', 'pgtap-items-a',
  p_kind => 'response', p_token_budget => 1000, p_turn_id => '00000000-0000-4000-8000-0000000000a1') is not null as setup \gset
select public.finish_turn('00000000-0000-4000-8000-0000000000a1',
  '[{"role": "assistant", "content": "two", "idempotency_key": "msg_two"}]') is not null as setup \gset
select is(json_array_length(public.append_messages('pgtap-items-a',
  '[{"role": "user", "content": "three"}]')) + 2, 3, 'A appends a third message (after its response''s two)');
select throws_ok($$ select public.append_messages('pgtap-items-a', '[{"role": "user", "content": "ok"}, {"role": "user", "content": ""}]') $$,
  '23514', null, 'a bad element fails the whole call');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-items-a'), 3,
  '... and appends none of it');
select throws_ok($$ select public.append_messages('pgtap-items-a', '{}') $$, '22023', null, 'messages must be an array');
select is((public.append_messages('pgtap-items-a', '[{"role": "user", "content": "one", "idempotency_key": "msg_one"}]') -> 0 ->> 'id'),
  (select id::text from public.ai_conversation_messages where conversation_id = 'pgtap-items-a' and idempotency_key = 'msg_one'),
  'an item id used again is a replay: the first message');

select is(public.get_message('pgtap-items-a', 'msg_two') ->> 'seq', '2', 'get_message by idempotency key');
select is(public.get_message('pgtap-items-a',
            'msg_' || replace((select id::text from public.ai_conversation_messages where conversation_id = 'pgtap-items-a' and seq = 3), '-', '')) ->> 'seq',
          '3', 'get_message by <prefix>_<uuid hex>');
select throws_ok($$ select public.get_message('pgtap-items-a', 'msg_nothing') $$, 'P0002', null, 'an unknown item is P0002');

select is((public.list_messages('pgtap-items-a', 2, 'desc') -> 'messages' -> 0 ->> 'seq'), '3', 'desc starts at the newest');
select is((public.list_messages('pgtap-items-a', 2, 'desc') ->> 'has_more')::boolean, true, 'a first page of 2 has more');
select is((public.list_messages('pgtap-items-a', 2, 'desc', 'msg_two') -> 'messages' -> 0 ->> 'seq'), '1', 'after an item, desc');
select is((public.list_messages('pgtap-items-a', 2, 'asc', 'msg_one') ->> 'has_more')::boolean, false, 'the last page has no more');
select throws_ok($$ select public.list_messages('pgtap-items-a', 2, 'sideways') $$, '22023', null, 'order is asc or desc');
select throws_ok($$ select public.list_messages('pgtap-items-a', 0) $$, '22023', null, 'limit at least 1');

select is(json_array_length(public.get_response('resp_000000000000400080000000000000a1') -> 'input')
          + json_array_length(public.get_response('resp_000000000000400080000000000000a1') -> 'output'), 2, 'get_response: the messages of one response');
select is((public.get_response('resp_000000000000400080000000000000a1') ->> 'latest')::boolean, false, 'a message after it: not the latest');

select is((public.delete_message('pgtap-items-a', 'msg_one') ->> 'message_count')::integer, 2,
  'A deletes one of its messages; the conversation counts 2');
select is((public.append_message('pgtap-items-a', 'user', 'four') -> 'message' ->> 'seq'), '4',
  'the next message gets seq 4: a deleted seq is never reused');
select throws_ok($$ update public.ai_conversation_messages set content = 'changed' where conversation_id = 'pgtap-items-a' $$,
  '42501', null, 'messages are never updated');
select is((public.update_conversation('pgtap-items-a', '{"metadata": {"topic": "t"}}') -> 'metadata' ->> 'topic'), 't', 'A replaces its metadata');

-- B's conversation and response, as A
select throws_ok($$ select public.get_message('pgtap-items-b', 'msg_b1') $$, 'P0002', null, 'A cannot read B''s item');
select throws_ok($$ select public.delete_message('pgtap-items-b', 'msg_b1') $$, 'P0002', null, 'A cannot delete B''s item');
select throws_ok($$ select public.get_response('resp_000000000000400080000000000000b1') $$, 'P0002', null, 'A cannot read B''s response');
select throws_ok($$ select public.delete_response('resp_000000000000400080000000000000b1') $$, 'P0002', null, 'A cannot delete B''s response');

select tests.authenticate_as_service();
select is((public.delete_response('resp_000000000000400080000000000000a1') ->> 'deleted')::integer, 1, 'the service deletes what is left of a response');

select * from finish();
rollback;
