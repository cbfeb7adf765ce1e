-- Rule: Row Level Security on conversations, and who may call what.
--
-- A user (authenticated, sub = A) reads and writes only its own live conversations: never B's,
-- never the anonymous ones (user_id null), never a column the rules own. Admin functions and
-- dashboard views are service_role only. anon may do nothing at all. Every attack below is
-- expected to fail or to see nothing; the positive cases show the same user can use its own.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(84);

-- Setup (as postgres): A's conversations, B's, and an anonymous one --------------------------------
-- A = 7f1e0000-0000-4000-8000-00000000000a, B = 7f1e0000-0000-4000-8000-00000000000b
select public.create_conversation('pgtap-rls-a1', '7f1e0000-0000-4000-8000-00000000000a', '{"owner": "a"}') is not null as setup \gset
select public.create_conversation('pgtap-rls-a-old', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rls-b1', '7f1e0000-0000-4000-8000-00000000000b', '{"owner": "b"}') is not null as setup \gset
select public.create_conversation('pgtap-rls-anon', null, '{"owner": null}') is not null as setup \gset
select count(public.append_message(c, r, 'message of ' || c)) > 0 as setup
  from unnest(array['pgtap-rls-a1', 'pgtap-rls-a-old', 'pgtap-rls-b1', 'pgtap-rls-anon']) c,
       unnest(array['user', 'assistant']) r \gset
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-rls-a-old';

create temp table others_before on commit drop as
  select c.* from public.ai_conversations c where conversation_id in ('pgtap-rls-b1', 'pgtap-rls-anon');

-- As user A --------------------------------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');

-- what A may do
select results_eq(
  $$ select conversation_id::text from public.ai_conversations $$,
  $$ values ('pgtap-rls-a1') $$,
  'A sees exactly its own live conversation in the table (not B''s, not the anonymous one, not its expired one)'
);
select is(public.get_conversation('pgtap-rls-a1')::jsonb ->> 'user_id', '7f1e0000-0000-4000-8000-00000000000a',
          'A reads its own conversation');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations() -> 'conversations') e $$,
  $$ values ('pgtap-rls-a1') $$,
  'list_conversations shows A its own conversation only'
);
select results_eq(
  $$ with u as (update public.ai_conversations set metadata = '{"owner": "a", "title": "mine"}'
                 where conversation_id = 'pgtap-rls-a1' returning 1) select count(*)::integer from u $$,
  $$ values (1) $$,
  'A updates its own conversation''s metadata'
);
select lives_ok($$ select public.extend_conversation('pgtap-rls-a1', 1) $$, 'A extends its own conversation');
select public.create_conversation(p_metadata => '{"rpc": true}')::jsonb ->> 'conversation_id' as a2 \gset
select is((select user_id from public.ai_conversations where conversation_id = :'a2'), '7f1e0000-0000-4000-8000-00000000000a',
          'A creates a conversation (its id generated), owned by A');
select lives_ok(
  $$ insert into public.ai_conversations (user_id, metadata) values ('7f1e0000-0000-4000-8000-00000000000a', '{"direct": true}') $$,
  'A inserts its own conversation directly (its id generated)'
);
select results_eq(
  $$ with d as (delete from public.ai_conversations where metadata @> '{"direct": true}' returning 1)
     select count(*)::integer from d $$,
  $$ values (1) $$,
  'A deletes its own conversation directly'
);
select lives_ok(format('select public.delete_conversation(%L)', :'a2'), 'A deletes its own conversation by RPC');

-- reading others' rows
select is_empty($$ select 1 from public.ai_conversations where conversation_id = 'pgtap-rls-b1' $$,
                'A cannot select B''s conversation');
select is_empty($$ select 1 from public.ai_conversations where user_id = '7f1e0000-0000-4000-8000-00000000000b' $$,
                'A cannot select B''s conversations by user_id');
select is_empty($$ select 1 from public.ai_conversations where conversation_id = 'pgtap-rls-anon' or user_id is null $$,
                'A cannot select anonymous (user_id null) conversations');

-- changing others' rows
select results_eq(
  $$ with u as (update public.ai_conversations set metadata = '{"owner": "mallory"}'
                 where conversation_id = 'pgtap-rls-b1' returning 1) select count(*)::integer from u $$,
  $$ values (0) $$,
  'A updating B''s metadata changes 0 rows'
);
select results_eq(
  $$ with u as (update public.ai_conversations set expires_at = now() where user_id is distinct from auth.uid() returning 1)
     select count(*)::integer from u $$,
  $$ values (0) $$,
  'A expiring everyone else''s conversations changes 0 rows'
);
select results_eq(
  $$ with u as (update public.ai_conversations set metadata = '{}' where conversation_id = 'pgtap-rls-anon' returning 1)
     select count(*)::integer from u $$,
  $$ values (0) $$,
  'A updating the anonymous conversation changes 0 rows'
);
select results_eq(
  $$ with d as (delete from public.ai_conversations where conversation_id in ('pgtap-rls-b1', 'pgtap-rls-anon') returning 1)
     select count(*)::integer from d $$,
  $$ values (0) $$,
  'A deleting B''s and the anonymous conversation deletes 0 rows'
);

-- inserting for others, or taking over
select throws_ok(
  $$ insert into public.ai_conversations (user_id) values ('7f1e0000-0000-4000-8000-00000000000b') $$,
  '42501', 'new row violates row-level security policy for table "ai_conversations"',
  'A cannot insert a conversation owned by B (42501)'
);
select throws_ok(
  $$ insert into public.ai_conversations (metadata) values ('{}') $$,
  '42501', 'new row violates row-level security policy for table "ai_conversations"',
  'A cannot insert an anonymous conversation (42501)'
);
select throws_ok(
  $$ select public.create_conversation('pgtap-rls-x3', '7f1e0000-0000-4000-8000-00000000000b') $$,
  '42501', null,
  'A cannot create a conversation for B through the RPC (42501)'
);
select throws_ok(
  $$ update public.ai_conversations set user_id = '7f1e0000-0000-4000-8000-00000000000b' where conversation_id = 'pgtap-rls-a1' $$,
  '42501', null,
  'A cannot give its conversation to B (user_id is not updatable, 42501)'
);
select throws_ok(
  $$ update public.ai_conversations set user_id = null where conversation_id = 'pgtap-rls-a1' $$,
  '42501', null,
  'A cannot make its conversation anonymous (42501)'
);
select throws_ok(
  $$ update public.ai_conversations set message_count = 0 where conversation_id = 'pgtap-rls-a1' $$,
  '42501', null,
  'A cannot write message_count (42501)'
);
select throws_ok(
  $$ update public.ai_conversations set last_seq = 0 where conversation_id = 'pgtap-rls-a1' $$,
  '42501', null,
  'A cannot write last_seq (42501)'
);
select throws_ok(
  $$ update public.ai_conversations set conversation_id = 'pgtap-rls-renamed' where conversation_id = 'pgtap-rls-a1' $$,
  '42501', null,
  'A cannot rename a conversation (42501)'
);
select throws_ok(
  $$ insert into public.ai_conversations (conversation_id, user_id, expires_at)
     values ('pgtap-rls-x4', '7f1e0000-0000-4000-8000-00000000000a', 'infinity') $$,
  '42501', null,
  'A cannot choose expires_at on insert (42501)'
);
select throws_ok(
  $$ update public.ai_conversations set expires_at = 'infinity' where conversation_id = 'pgtap-rls-a1' $$,
  '22023', null,
  'A cannot keep its conversation beyond max_ttl_hours (22023)'
);

-- RPCs on B's and on the anonymous conversation: one answer, P0002, as if they did not exist
select throws_ok($$ select public.get_conversation('pgtap-rls-b1') $$, 'P0002', null, 'get_conversation of B''s conversation is P0002');
select throws_ok($$ select public.get_messages('pgtap-rls-b1') $$, 'P0002', null, 'get_messages of B''s conversation is P0002');
select throws_ok($$ select public.export_conversation('pgtap-rls-b1') $$, 'P0002', null, 'export_conversation of B''s conversation is P0002');
select throws_ok($$ select public.extend_conversation('pgtap-rls-b1', 1) $$, 'P0002', null, 'extend_conversation of B''s conversation is P0002');
select throws_ok($$ select public.clear_conversation('pgtap-rls-b1') $$, 'P0002', null, 'clear_conversation of B''s conversation is P0002');
select throws_ok($$ select public.delete_conversation('pgtap-rls-b1') $$, 'P0002', null, 'delete_conversation of B''s conversation is P0002');
select throws_ok($$ select public.append_message('pgtap-rls-b1', 'user', 'hi') $$, 'P0002', null, 'append_message to B''s conversation is P0002');
select throws_ok($$ select public.begin_chat_turn('hi', 'pgtap-rls-b1') $$, 'P0002', null, 'begin_chat_turn on B''s conversation is P0002');
select throws_ok($$ select public.get_conversation('pgtap-rls-anon') $$, 'P0002', null, 'get_conversation of the anonymous conversation is P0002');
select throws_ok($$ select public.get_messages('pgtap-rls-anon') $$, 'P0002', null, 'get_messages of the anonymous conversation is P0002');
select throws_ok($$ select public.export_conversation('pgtap-rls-anon') $$, 'P0002', null, 'export_conversation of the anonymous conversation is P0002');
select throws_ok($$ select public.extend_conversation('pgtap-rls-anon', 1) $$, 'P0002', null, 'extend_conversation of the anonymous conversation is P0002');
select throws_ok($$ select public.clear_conversation('pgtap-rls-anon') $$, 'P0002', null, 'clear_conversation of the anonymous conversation is P0002');
select throws_ok($$ select public.delete_conversation('pgtap-rls-anon') $$, 'P0002', null, 'delete_conversation of the anonymous conversation is P0002');
select throws_ok($$ select public.append_message('pgtap-rls-anon', 'user', 'hi') $$, 'P0002', null, 'append_message to the anonymous conversation is P0002');
select throws_ok($$ select public.begin_chat_turn('hi', 'pgtap-rls-anon') $$, 'P0002', null, 'begin_chat_turn on the anonymous conversation is P0002');
select throws_ok(
  $$ select public.list_conversations('7f1e0000-0000-4000-8000-00000000000b') $$,
  '42501', null,
  'A cannot list B''s conversations (42501)'
);
select lives_ok(
  $$ select private.purge_expired_conversation('pgtap-rls-b1') $$,
  'A may call the expired-id purge on B''s live conversation ...'
);

-- admin functions, dashboard views, settings, internals
select throws_ok($$ select public.conversation_stats() $$, '42501', null, 'A cannot call conversation_stats (42501)');
select throws_ok($$ select public.cleanup_expired_conversations() $$, '42501', null, 'A cannot call cleanup_expired_conversations (42501)');
select throws_ok($$ select public.import_conversation('{"conversation_id": "pgtap-rls-imp"}') $$, '42501', null,
                 'A cannot call import_conversation (42501)');
select throws_ok($$ select * from public.ai_conversation_recent $$, '42501', null, 'A cannot read ai_conversation_recent (42501)');
select throws_ok($$ select * from public.ai_conversation_most_active $$, '42501', null, 'A cannot read ai_conversation_most_active (42501)');
select throws_ok($$ select * from public.ai_conversation_user_activity $$, '42501', null, 'A cannot read ai_conversation_user_activity (42501)');
select throws_ok($$ select * from public.ai_conversation_length_stats $$, '42501', null, 'A cannot read ai_conversation_length_stats (42501)');
select throws_ok($$ select * from public.ai_conversation_duration_stats $$, '42501', null, 'A cannot read ai_conversation_duration_stats (42501)');
select throws_ok($$ select * from public.ai_conversation_peak_hours $$, '42501', null, 'A cannot read ai_conversation_peak_hours (42501)');
select throws_ok($$ select * from public.ai_conversation_role_distribution $$, '42501', null, 'A cannot read ai_conversation_role_distribution (42501)');
select throws_ok($$ select * from private.conversation_totals $$, '42501', null, 'A cannot read private.conversation_totals (42501)');
select throws_ok($$ select private.delete_expired_batch(10) $$, '42501', null, 'A cannot call private.delete_expired_batch (42501)');
select results_eq(
  $$ select count(*)::integer from public.ai_conversation_settings $$,
  $$ values (1) $$,
  'A reads the settings'
);
select throws_ok($$ update public.ai_conversation_settings set ttl_hours = 8760 $$, '42501', null,
                 'A cannot change the settings (42501)');

-- A token without a user id sees no conversation, in particular no anonymous one -------------------
select tests.authenticate_as(null);  -- a user token without sub
select is_empty($$ select 1 from public.ai_conversations where conversation_id like 'pgtap-rls-%' $$,
                'an authenticated token without sub sees no conversation (user_id null never matches)');
select throws_ok($$ select public.get_conversation('pgtap-rls-anon') $$, 'P0002', null,
                 'an authenticated token without sub cannot read the anonymous conversation (P0002)');

-- User B sees its own (the policies are not simply hiding everything) ------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000b');
select results_eq(
  $$ select conversation_id::text, metadata from public.ai_conversations $$,
  $$ values ('pgtap-rls-b1', '{"owner": "b"}'::jsonb) $$,
  'B sees exactly its own conversation, unchanged'
);

-- anon: nothing at all ------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.ai_conversations $$, '42501', null, 'anon cannot select conversations (42501)');
select throws_ok($$ select * from public.ai_conversation_messages $$, '42501', null, 'anon cannot select messages (42501)');
select throws_ok($$ select * from public.ai_conversation_settings $$, '42501', null, 'anon cannot select the settings (42501)');
select throws_ok($$ select * from public.ai_conversation_recent $$, '42501', null, 'anon cannot read the dashboard views (42501)');
select throws_ok($$ insert into public.ai_conversations (conversation_id) values ('pgtap-rls-anon2') $$, '42501', null,
                 'anon cannot insert a conversation (42501)');
select throws_ok($$ update public.ai_conversations set metadata = '{}' $$, '42501', null, 'anon cannot update conversations (42501)');
select throws_ok($$ delete from public.ai_conversations $$, '42501', null, 'anon cannot delete conversations (42501)');
select throws_ok($$ select public.create_conversation('pgtap-rls-anon3') $$, '42501', null, 'anon cannot call create_conversation (42501)');
select throws_ok($$ select public.append_message('pgtap-rls-anon', 'user', 'hi') $$, '42501', null, 'anon cannot call append_message (42501)');
select throws_ok($$ select public.begin_chat_turn('hi') $$, '42501', null, 'anon cannot call begin_chat_turn (42501)');
select throws_ok($$ select public.get_messages('pgtap-rls-anon') $$, '42501', null, 'anon cannot call get_messages (42501)');
select throws_ok($$ select public.get_conversation('pgtap-rls-anon') $$, '42501', null, 'anon cannot call get_conversation (42501)');
select throws_ok($$ select public.list_conversations() $$, '42501', null, 'anon cannot call list_conversations (42501)');
select throws_ok($$ select public.extend_conversation('pgtap-rls-anon', 1) $$, '42501', null, 'anon cannot call extend_conversation (42501)');
select throws_ok($$ select public.clear_conversation('pgtap-rls-anon') $$, '42501', null, 'anon cannot call clear_conversation (42501)');
select throws_ok($$ select public.delete_conversation('pgtap-rls-anon') $$, '42501', null, 'anon cannot call delete_conversation (42501)');
select throws_ok($$ select public.export_conversation('pgtap-rls-anon') $$, '42501', null, 'anon cannot call export_conversation (42501)');
select throws_ok($$ select public.conversation_stats() $$, '42501', null, 'anon cannot call conversation_stats (42501)');
select throws_ok($$ select public.cleanup_expired_conversations() $$, '42501', null, 'anon cannot call cleanup_expired_conversations (42501)');
select throws_ok($$ select public.import_conversation('{}') $$, '42501', null, 'anon cannot call import_conversation (42501)');

-- Afterwards (as postgres): nothing of B's or of the anonymous conversation changed ------------------
select tests.clear_authentication();
select results_eq(
  $$ select * from public.ai_conversations where conversation_id in ('pgtap-rls-b1', 'pgtap-rls-anon') order by conversation_id $$,
  $$ select * from others_before order by conversation_id $$,
  'B''s and the anonymous conversation are exactly as before: every attack failed'
);
select results_eq(
  $$ select metadata from public.ai_conversations where conversation_id = 'pgtap-rls-a1' $$,
  $$ values ('{"owner": "a", "title": "mine"}'::jsonb) $$,
  'A''s own change was stored'
);
select is_empty(
  $$ select 1 from public.ai_conversations where metadata @> '{"direct": true}' or metadata @> '{"rpc": true}'
        or conversation_id like 'pgtap-rls-x%' or conversation_id like 'pgtap-rls-anon_%'
        or (user_id is distinct from '7f1e0000-0000-4000-8000-00000000000a'
            and conversation_id not in ('pgtap-rls-b1', 'pgtap-rls-anon')
            and conversation_id not like 'pgtap-%' and created_at = now()) $$,
  'only the conversations A created and deleted itself came and went; no attack created one'
);

select * from finish();
rollback;
