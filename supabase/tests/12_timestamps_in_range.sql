-- Rule: timestamps are finite and readable (years 1 to 9999), whoever writes them.
--
-- 'infinity', '-infinity' and years beyond 9999 (or BC) cannot be represented by the API's JSON
-- readers: the tables refuse them (23514), on insert and on update, from the dashboard too.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(13);

select public.create_conversation('pgtap-ts-1') is not null as setup \gset
select public.append_message('pgtap-ts-1', 'user', 'hi') is not null as setup \gset

select col_has_check('public', 'ai_conversations', array['created_at', 'updated_at', 'expires_at'],
                     'ai_conversations has a check on its timestamps');
select ok((select convalidated from pg_constraint where conname = 'ai_conversations_timestamps_in_range'),
          'the conversations'' check is validated (no row escapes it)');
select ok((select convalidated from pg_constraint where conname = 'ai_conversation_messages_created_at_in_range'),
          'the messages'' check is validated');

-- As the dashboard does it: postgres, direct updates.
select throws_ok($$ update public.ai_conversations set created_at = '-infinity' where conversation_id = 'pgtap-ts-1' $$,
                 '23514', null, 'created_at = -infinity is refused (23514)');
select throws_ok($$ update public.ai_conversations set expires_at = '-infinity' where conversation_id = 'pgtap-ts-1' $$,
                 '23514', null, 'expires_at = -infinity is refused (23514)');
select throws_ok($$ insert into public.ai_conversations (conversation_id, expires_at) values ('pgtap-ts-4', 'infinity') $$,
                 '23514', null, 'a conversation that never expires (expires_at = infinity) is refused (23514)');
select throws_ok($$ update public.ai_conversations set created_at = '10000-01-01' where conversation_id = 'pgtap-ts-1' $$,
                 '23514', null, 'a year beyond 9999 is refused (23514)');
select throws_ok($$ update public.ai_conversations set created_at = '0044-03-15 BC' where conversation_id = 'pgtap-ts-1' $$,
                 '23514', null, 'a year BC is refused (23514)');
select throws_ok($$ insert into public.ai_conversations (conversation_id, created_at) values ('pgtap-ts-2', '-infinity') $$,
                 '23514', null, 'inserting a conversation created at -infinity is refused (23514)');
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content, created_at)
     values ('pgtap-ts-1', 'user', 'x', '-infinity') $$,
  '23514', null, 'a message created at -infinity is refused (23514)');
select throws_ok(
  $$ select public.import_conversation('{"conversation_id": "pgtap-ts-3", "created_at": "-infinity", "messages": []}') $$,
  '23514', null, 'an import with created_at -infinity is refused (23514)');
select lives_ok($$ update public.ai_conversations set created_at = '0001-01-01 00:00:00+00' where conversation_id = 'pgtap-ts-1' $$,
                'the first instant of year 1 is accepted');
select unalike(tests.plan($$ select private.timestamp_in_range(now()) $$), '%timestamp_in_range%',
              'private.timestamp_in_range is inlined by the planner');

select * from finish();
rollback;
