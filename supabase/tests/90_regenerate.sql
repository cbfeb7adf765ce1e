-- Rule: a regeneration (begin_turn with p_regenerate) answers its own message, which is stored
-- already, again: what came after that message is deleted from the conversation and kept whole on
-- the new turn (superseded), in the same transaction; the message itself is not stored twice;
-- p_superseded_id, when given, must be one of the replaced messages; a message not stored cannot
-- be regenerated; a user regenerates only in its own conversations.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(8);

select public.create_conversation('pgtap-regen', '7f1e0000-0000-4000-8000-000000009001') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-000000009001');
select public.append_message('pgtap-regen', 'user', 'question', '{}', 'u1') is not null as setup \gset
select public.append_message('pgtap-regen', 'tool', '4', '{"tool": "calculator", "round": 1}', 'u1:tool:1') is not null as setup \gset
select public.append_message('pgtap-regen', 'assistant', 'first answer', '{}', 'msg_first') is not null as setup \gset

select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "question", "idempotency_key": "u1"}]', 'pgtap-regen',
                                             p_regenerate => true, p_superseded_id => 'msg_other') $$,
  'P0002', null, 'the reply to replace must be one that came after the message');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "never stored", "idempotency_key": "u9"}]', 'pgtap-regen',
                                             p_regenerate => true) $$,
  '22023', null, 'a message that is not stored cannot be answered again');

select public.begin_turn('[{"role": "user", "content": "question", "idempotency_key": "u1"}]', 'pgtap-regen',
                         p_regenerate => true, p_superseded_id => 'msg_first', p_kind => 'ui')::jsonb as regen \gset
select is((select array_agg(idempotency_key::text order by seq) from public.ai_conversation_messages where conversation_id = 'pgtap-regen'),
          array['u1'], 'what came after the message is gone from the conversation, the message stays once');
select is((:'regen'::jsonb -> 'input' -> 0 ->> 'seq')::integer, 1, 'the turn''s own message is the stored one');
select is((select array_agg(e ->> 'content' order by (e ->> 'seq')::integer)
             from public.ai_turns t, jsonb_array_elements(t.superseded) e where t.id = (:'regen'::jsonb -> 'turn' ->> 'id')::uuid),
          array['4', 'first answer'], 'and is kept whole on the new turn');
select is((public.get_turn(:'regen'::jsonb -> 'turn' ->> 'id') -> 'superseded' -> 1 ->> 'idempotency_key'), 'msg_first',
          'get_turn shows what a regeneration replaced');
select is((public.append_message('pgtap-regen', 'assistant', 'second answer') -> 'message' ->> 'seq')::integer, 4,
          'the next reply takes the next seq (seqs are never reused)');

select tests.authenticate_as('7f1e0000-0000-4000-8000-000000009002');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "question", "idempotency_key": "u1"}]', 'pgtap-regen',
                                             p_regenerate => true) $$,
  'P0002', null, 'another user cannot regenerate in the conversation');

select * from finish();
rollback;
