-- Rule: a conversation holds at most max_messages_per_conversation messages.
--
-- The append beyond the cap is 54000 (program_limit_exceeded) and stores nothing, consumes no
-- seq; a replayed idempotency key still answers with its original; a clear makes room again.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(8);

select col_default_is('public', 'ai_conversation_settings', 'max_messages_per_conversation', '100000',
                      'the cap defaults to 100,000 messages');
select throws_ok($$ update public.ai_conversation_settings set max_messages_per_conversation = 0 $$,
                 '23514', null, 'the cap is at least 1 (23514)');

update public.ai_conversation_settings set max_messages_per_conversation = 3;
select public.create_conversation('pgtap-cap-1') is not null as setup \gset
select public.append_message('pgtap-cap-1', 'user', 'one', '{}', 'k1') is not null as setup \gset
select public.append_message('pgtap-cap-1', 'user', 'two') is not null as setup \gset
select lives_ok($$ select public.append_message('pgtap-cap-1', 'user', 'three') $$, 'the third message fits');
select throws_ok($$ select public.append_message('pgtap-cap-1', 'user', 'four') $$, '54000',
                 'conversation pgtap-cap-1 holds 3 messages, the most allowed',
                 'the fourth is refused (54000)');
select results_eq($$ select message_count, last_seq from public.ai_conversations where conversation_id = 'pgtap-cap-1' $$,
                  $$ values (3, 3::bigint) $$, 'the refused append stored nothing and consumed no seq');
select is(public.append_message('pgtap-cap-1', 'user', 'one', '{}', 'k1')::jsonb ->> 'replayed', 'true',
          'a replayed idempotency key still returns the original');
select lives_ok($$ select public.clear_conversation('pgtap-cap-1') $$, 'clear');
select is(public.append_message('pgtap-cap-1', 'user', 'after clear')::jsonb -> 'message' ->> 'seq', '4',
          'after a clear the conversation takes messages again (seq continues)');

select * from finish();
rollback;
