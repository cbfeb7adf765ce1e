-- Rule: Row Level Security on messages.
--
-- A user (authenticated, sub = A) reads, appends and deletes messages of its own live
-- conversations only; it can never read, add to or delete from B's or an anonymous conversation,
-- never choose seq, id or created_at, and never change a stored message. A replayed idempotency
-- key never reveals another user's message. anon may do nothing. The positive cases show the
-- same user can use its own messages.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(40);

-- Setup (as postgres) -------------------------------------------------------------------------------
-- A = 7f1e0000-0000-4000-8000-00000000000a, B = 7f1e0000-0000-4000-8000-00000000000b
select public.create_conversation('pgtap-rls-a1', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rls-a-old', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rls-b1', '7f1e0000-0000-4000-8000-00000000000b') is not null as setup \gset
select public.create_conversation('pgtap-rls-anon') is not null as setup \gset
select count(public.append_message(c, r, 'message of ' || c, '{}', c || '-' || r)) > 0 as setup
  from unnest(array['pgtap-rls-a1', 'pgtap-rls-a-old', 'pgtap-rls-b1', 'pgtap-rls-anon']) c,
       unnest(array['user', 'assistant']) r \gset
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-rls-a-old';

create temp table others_before on commit drop as
  select m.* from public.ai_conversation_messages m where conversation_id in ('pgtap-rls-b1', 'pgtap-rls-anon');
create temp table others_counters_before on commit drop as
  select c.* from public.ai_conversations c where conversation_id in ('pgtap-rls-b1', 'pgtap-rls-anon');

-- As user A ------------------------------------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');

-- what A may do
select results_eq(
  $$ select conversation_id::text, seq from public.ai_conversation_messages order by 1, 2 $$,
  $$ values ('pgtap-rls-a1', 1::bigint), ('pgtap-rls-a1', 2::bigint) $$,
  'A sees exactly the messages of its own live conversation'
);
select lives_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-rls-a1', 'user', 'direct') $$,
  'A inserts a message into its own conversation directly'
);
select is(public.append_message('pgtap-rls-a1', 'assistant', 'by rpc')::jsonb -> 'message' ->> 'seq', '4',
          'A appends to its own conversation, with the next seq');
select is(json_array_length(public.get_messages('pgtap-rls-a1', 10)), 4, 'A reads its 4 messages');
select is(
  (public.begin_chat_turn('turn', 'pgtap-rls-a1', p_history_limit => 10)::jsonb -> 'history' -> 0 ->> 'conversation_id'),
  'pgtap-rls-a1',
  'A runs a chat turn on its own conversation'
);
select results_eq(
  $$ with d as (delete from public.ai_conversation_messages where conversation_id = 'pgtap-rls-a1' and seq = 1 returning 1)
     select count(*)::integer from d $$,
  $$ values (1) $$,
  'A deletes one of its own messages'
);
select is((public.clear_conversation('pgtap-rls-a1')::jsonb ->> 'cleared')::integer, 4, 'A clears its own conversation');

-- reading others' messages
select is_empty($$ select 1 from public.ai_conversation_messages where conversation_id = 'pgtap-rls-b1' $$,
                'A cannot select B''s messages');
select is_empty($$ select 1 from public.ai_conversation_messages where conversation_id = 'pgtap-rls-anon' $$,
                'A cannot select the anonymous conversation''s messages');
select is_empty($$ select 1 from public.ai_conversation_messages where conversation_id = 'pgtap-rls-a-old' $$,
                'A cannot select the messages of its own expired conversation');
select is_empty($$ select 1 from public.ai_conversation_messages where idempotency_key like 'pgtap-rls-b1%' $$,
                'A cannot find B''s messages by idempotency key');
select throws_ok($$ select public.get_messages('pgtap-rls-b1') $$, 'P0002', null, 'get_messages of B''s conversation is P0002');
select throws_ok($$ select public.get_messages('pgtap-rls-anon') $$, 'P0002', null, 'get_messages of the anonymous conversation is P0002');

-- adding to others' conversations
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-rls-b1', 'user', 'injected') $$,
  'P0002', null,
  'A cannot insert a message into B''s conversation directly (P0002)'
);
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-rls-anon', 'user', 'injected') $$,
  'P0002', null,
  'A cannot insert a message into the anonymous conversation directly (P0002)'
);
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-rls-a-old', 'user', 'late') $$,
  'P0002', null,
  'A cannot insert a message into its own expired conversation (P0002)'
);
select throws_ok($$ select public.append_message('pgtap-rls-b1', 'user', 'injected') $$, 'P0002', null,
                 'A cannot append to B''s conversation (P0002)');
select throws_ok($$ select public.append_message('pgtap-rls-anon', 'user', 'injected') $$, 'P0002', null,
                 'A cannot append to the anonymous conversation (P0002)');
select throws_ok(
  $$ select public.append_message('pgtap-rls-b1', 'user', 'probe', '{}', 'pgtap-rls-b1-user') $$,
  'P0002', null,
  'replaying B''s idempotency key in B''s conversation does not return B''s message (P0002)'
);
select throws_ok($$ select public.begin_chat_turn('injected', 'pgtap-rls-b1') $$, 'P0002', null,
                 'A cannot run a chat turn on B''s conversation (P0002)');
-- Conversation ids are one namespace, and users do not choose them: "create if missing" on B's id
-- is the same refusal as on a free id (nothing tells A the id is taken), never an append.
select throws_ok($$ select public.begin_chat_turn('injected', 'pgtap-rls-b1', p_create_if_missing => true) $$, '42501',
                 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 'A cannot reach B''s conversation through create-if-missing (42501)');
select throws_ok($$ select public.begin_chat_turn('injected', 'pgtap-rls-free-id', p_create_if_missing => true) $$, '42501',
                 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 '... and a free id answers exactly the same (42501)');

-- columns the rules own
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content, seq) values ('pgtap-rls-a1', 'user', 'x', 100) $$,
  '42501', null,
  'A cannot choose seq (42501)'
);
select throws_ok(
  $$ insert into public.ai_conversation_messages (id, conversation_id, role, content)
     values (gen_random_uuid(), 'pgtap-rls-a1', 'user', 'x') $$,
  '42501', null,
  'A cannot choose the message id (42501)'
);
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content, created_at)
     values ('pgtap-rls-a1', 'user', 'x', '2000-01-01') $$,
  '42501', null,
  'A cannot backdate a message (42501)'
);

-- changing and deleting
select throws_ok(
  $$ update public.ai_conversation_messages set content = 'edited' where conversation_id = 'pgtap-rls-a1' $$,
  '42501', null,
  'A cannot update its own messages (42501)'
);
select throws_ok(
  $$ update public.ai_conversation_messages set content = 'edited' where conversation_id = 'pgtap-rls-b1' $$,
  '42501', null,
  'A cannot update B''s messages (42501)'
);
select results_eq(
  $$ with d as (delete from public.ai_conversation_messages where conversation_id = 'pgtap-rls-b1' returning 1)
     select count(*)::integer from d $$,
  $$ values (0) $$,
  'A deleting B''s messages deletes 0 rows'
);
select results_eq(
  $$ with d as (delete from public.ai_conversation_messages where conversation_id <> 'pgtap-rls-a1' returning 1)
     select count(*)::integer from d $$,
  $$ values (0) $$,
  'A deleting every other conversation''s messages deletes 0 rows'
);
select throws_ok($$ select public.clear_conversation('pgtap-rls-b1') $$, 'P0002', null,
                 'A cannot clear B''s conversation (P0002)');

-- B sees its own messages (the policies are not simply hiding everything) ----------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000b');
select results_eq(
  $$ select conversation_id::text, seq, content from public.ai_conversation_messages order by 2 $$,
  $$ values ('pgtap-rls-b1', 1::bigint, 'message of pgtap-rls-b1'), ('pgtap-rls-b1', 2::bigint, 'message of pgtap-rls-b1') $$,
  'B sees exactly its own messages'
);
select is(
  public.append_message('pgtap-rls-b1', 'user', 'message of pgtap-rls-b1', '{}', 'pgtap-rls-b1-user')::jsonb ->> 'replayed',
  'true',
  'B replays its own idempotency key'
);
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-rls-a1', 'user', 'injected') $$,
  'P0002', null,
  'B cannot insert a message into A''s conversation (P0002)'
);

-- anon --------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.ai_conversation_messages $$, '42501', null, 'anon cannot select messages (42501)');
select throws_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-rls-anon', 'user', 'x') $$,
  '42501', null,
  'anon cannot insert a message, not even into an anonymous conversation (42501)'
);
select throws_ok($$ delete from public.ai_conversation_messages $$, '42501', null, 'anon cannot delete messages (42501)');
select throws_ok($$ update public.ai_conversation_messages set content = 'x' $$, '42501', null, 'anon cannot update messages (42501)');

-- Afterwards (as postgres) -----------------------------------------------------------------------------
select tests.clear_authentication();
select results_eq(
  $$ select * from public.ai_conversation_messages where conversation_id in ('pgtap-rls-b1', 'pgtap-rls-anon') order by conversation_id, seq $$,
  $$ select * from others_before order by conversation_id, seq $$,
  'B''s and the anonymous conversation''s messages are exactly as before'
);
select results_eq(
  $$ select conversation_id::text, message_count, last_seq, expires_at from public.ai_conversations
      where conversation_id in ('pgtap-rls-b1', 'pgtap-rls-anon') order by 1 $$,
  $$ select conversation_id::text, message_count, last_seq, expires_at from others_counters_before order by 1 $$,
  'their counters and expiry are as before: failed attempts left no seq gap and no sliding expiry'
);
select results_eq(
  $$ select message_count, last_seq from public.ai_conversations where conversation_id = 'pgtap-rls-a1' $$,
  $$ values (0, 5::bigint) $$,
  'A''s own conversation: 5 messages appended, all cleared, numbering kept'
);

select * from finish();
rollback;
