-- Rule: an idempotency key names one message (issue 22, item 11).
--
-- A retry with a used key carries the same role and content: it answers the original
-- (replayed), whatever its metadata. Another role or content under the key is 23505 (409), from
-- every path (append_message, append_messages, begin_chat_turn, a direct insert), and stores
-- nothing. Keys the store derives for a model's output keep the first message written under
-- them, whatever the second's words (private.is_derived_key): a turn's reply, tool results and
-- outputs (K:assistant, K:tool:n, K:output:n), a summary's range (summary:a-b); another role under
-- one is still 23505.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(12);

select public.create_conversation('pgtap-keys', '7f1e0000-0000-4000-8000-0000000000f1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000f1');
select public.append_message('pgtap-keys', 'user', 'pay 10', '{"try": 1}', 'k') is not null as setup \gset

select is(public.append_message('pgtap-keys', 'user', 'pay 10', '{"try": 2}', 'k')::jsonb #>> '{message,metadata,try}', '1',
          'the same role and content with other metadata: a replay of the original');
select throws_ok($$ select public.append_message('pgtap-keys', 'user', 'pay 1000', '{}', 'k') $$, '23505',
                 'idempotency key k was already used for another message of conversation pgtap-keys',
                 'other content under a used key: 23505');
select throws_ok($$ select public.append_message('pgtap-keys', 'assistant', 'pay 10', '{}', 'k') $$, '23505', null,
                 'another role under a used key: 23505');
select throws_ok($$ select public.append_messages('pgtap-keys', '[{"role": "user", "content": "x", "idempotency_key": "k"}]') $$,
                 '23505', null, 'through append_messages too');
select throws_ok($$ select public.begin_chat_turn('x', 'pgtap-keys', p_idempotency_key => 'k') $$, '23505', null,
                 'through begin_chat_turn too');
select throws_ok($$ insert into public.ai_conversation_messages (conversation_id, role, content, idempotency_key)
                    values ('pgtap-keys', 'user', 'x', 'k') $$, '23505', null, 'a direct insert too');
select results_eq($$ select last_seq, message_count from public.ai_conversations where conversation_id = 'pgtap-keys' $$,
                  $$ values (1::bigint, 1) $$, 'nothing was stored, no seq consumed');

-- Derived keys: the first message stays.
select public.begin_chat_turn('2+2?', 'pgtap-keys', p_idempotency_key => 't') is not null as setup \gset
select is(public.append_message('pgtap-keys', 'assistant', 'It is 4.', '{}', p_turn_key => 't')::jsonb ->> 'replayed', 'false',
          'a turn''s reply');
select is(public.append_message('pgtap-keys', 'assistant', 'Four.', '{}', p_turn_key => 't')::jsonb #>> '{message,content}', 'It is 4.',
          'a second attempt''s reply under the turn''s key replays the first, other words and all');
select public.append_summary('pgtap-keys', 'paid, then asked', 1, 2) is not null as setup \gset
select is(public.append_summary('pgtap-keys', 'another summary of the same', 1, 2)::jsonb #>> '{message,content}',
          'paid, then asked', 'a second summary of a range replays the first');
select throws_ok($$ select public.append_message('pgtap-keys', 'user', 'It is 4.', '{}', 't:assistant') $$, '23505', null,
                 'another role under a derived key is still a key reused');
select tests.clear_authentication();
select ok(private.is_derived_key('t:assistant') and private.is_derived_key('t:tool:2') and private.is_derived_key('t:output:3')
          and private.is_derived_key('summary:1-2') and not private.is_derived_key('t') and not private.is_derived_key('t:assistant:x'),
          'the derived shapes: K:assistant, K:tool:n, K:output:n, summary:a-b');

select * from finish();
rollback;
