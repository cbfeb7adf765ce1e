-- Rule: TTL and expiry.
--
-- expires_at is set on create from settings.ttl_hours (or the conversation's own ttl_hours);
-- every append slides it to at least now() + ttl_hours; extend_conversation adds N hours within
-- max_ttl_hours; updated_at is kept by trigger; an expired conversation is invisible to every
-- read and write (P0002, or absent from lists) before cleanup has run, and the service can reuse its id.
--
-- now() is the transaction's start time, so it is the same in every statement of this file.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(47);

-- Default TTL from the settings row, read at call time -----------------------------------------
update public.ai_conversation_settings set ttl_hours = 5;

select is(
  (public.create_conversation('pgtap-ttl-default', '7f1e0000-0000-4000-8000-0000000000a1')::jsonb ->> 'ttl_hours')::integer,
  5,
  'a new conversation takes ttl_hours from the settings row'
);
select results_eq(
  $$ select expires_at, ttl_hours from public.ai_conversations where conversation_id = 'pgtap-ttl-default' $$,
  $$ values (now() + interval '5 hours', 5) $$,
  'expires_at = now() + settings.ttl_hours on create'
);

-- Per-conversation TTL -------------------------------------------------------------------------
select is(
  (public.create_conversation('pgtap-ttl-own', null, '{}', 2)::jsonb ->> 'expires_at')::timestamptz,
  now() + interval '2 hours',
  'create_conversation with p_ttl_hours => 2 expires in 2 hours'
);
select results_eq(
  $$ select ttl_hours from public.ai_conversations where conversation_id = 'pgtap-ttl-own' $$,
  $$ values (2) $$,
  'the conversation keeps its own ttl_hours'
);

-- Sliding expiry on append ---------------------------------------------------------------------
update public.ai_conversations set expires_at = now() + interval '1 minute' where conversation_id = 'pgtap-ttl-own';
select lives_ok(
  $$ select public.append_message('pgtap-ttl-own', 'user', 'still here') $$,
  'append to a conversation about to expire'
);
select results_eq(
  $$ select expires_at from public.ai_conversations where conversation_id = 'pgtap-ttl-own' $$,
  $$ values (now() + interval '2 hours') $$,
  'an append moves expires_at to now() + the conversation''s ttl_hours'
);
update public.ai_conversations set expires_at = now() + interval '10 hours' where conversation_id = 'pgtap-ttl-own';
select lives_ok(
  $$ select public.append_message('pgtap-ttl-own', 'assistant', 'hello') $$,
  'append to a conversation that expires later than its ttl'
);
select results_eq(
  $$ select expires_at from public.ai_conversations where conversation_id = 'pgtap-ttl-own' $$,
  $$ values (now() + interval '10 hours') $$,
  'an append never shortens the lifetime'
);
select lives_ok(
  $$ select public.begin_chat_turn('turn', 'pgtap-ttl-default') $$,
  'a chat turn appends too'
);
select results_eq(
  $$ select expires_at >= now() + make_interval(hours => ttl_hours) from public.ai_conversations
      where conversation_id in ('pgtap-ttl-default', 'pgtap-ttl-own') $$,
  $$ values (true), (true) $$,
  'after appends, both conversations expire no earlier than now() + ttl_hours'
);

-- updated_at is maintained by trigger ----------------------------------------------------------
-- (bypass the trigger once to put updated_at in the past, then let the rules move it)
set local session_replication_role = replica;
update public.ai_conversations set updated_at = '2000-01-01' where conversation_id = 'pgtap-ttl-own';
set local session_replication_role = origin;
select lives_ok(
  $$ select public.append_message('pgtap-ttl-own', 'user', 'touch') $$,
  'append after updated_at was set in the past'
);
select results_eq(
  $$ select updated_at from public.ai_conversations where conversation_id = 'pgtap-ttl-own' $$,
  $$ values (now()) $$,
  'an append sets updated_at to now()'
);
update public.ai_conversations set updated_at = '2000-01-01', metadata = '{"t": 1}' where conversation_id = 'pgtap-ttl-own';
select results_eq(
  $$ select updated_at from public.ai_conversations where conversation_id = 'pgtap-ttl-own' $$,
  $$ values (now()) $$,
  'a direct update cannot set updated_at: the trigger sets it to now()'
);

-- extend_conversation ---------------------------------------------------------------------------
select is(
  (public.extend_conversation('pgtap-ttl-default', 3)::jsonb ->> 'expires_at')::timestamptz,
  now() + interval '8 hours',
  'extend_conversation by 3 hours returns the new expires_at (5 + 3 hours from now)'
);
select results_eq(
  $$ select expires_at from public.ai_conversations where conversation_id = 'pgtap-ttl-default' $$,
  $$ values (now() + interval '8 hours') $$,
  'extend_conversation stored the new expires_at'
);
select throws_ok(
  $$ select public.extend_conversation('pgtap-ttl-default', 0) $$,
  '22023', null,
  'extend by 0 hours is rejected (22023)'
);
select throws_ok(
  $$ select public.extend_conversation('pgtap-ttl-default', -1) $$,
  '22023', null,
  'extend by a negative number of hours is rejected (22023)'
);
select throws_ok(
  $$ select public.extend_conversation('pgtap-ttl-default', null) $$,
  '22023', null,
  'extend by null hours is rejected (22023)'
);
select throws_ok(
  $$ select public.extend_conversation('pgtap-ttl-default', (select max_ttl_hours + 1 from public.ai_conversation_settings)) $$,
  '22023', null,
  'extend above max_ttl_hours is rejected (22023)'
);
update public.ai_conversation_settings set max_ttl_hours = 10;
select throws_ok(
  $$ select public.extend_conversation('pgtap-ttl-default', 9) $$,
  '22023', null,
  'extend is rejected when the result would be more than max_ttl_hours from now (8 + 9 > 10) (22023)'
);
select lives_ok(
  $$ select public.extend_conversation('pgtap-ttl-default', 2) $$,
  'extend up to exactly max_ttl_hours from now is accepted (8 + 2 = 10)'
);
select results_eq(
  $$ select expires_at from public.ai_conversations where conversation_id = 'pgtap-ttl-default' $$,
  $$ values (now() + interval '10 hours') $$,
  'the accepted extension is applied'
);
update public.ai_conversation_settings set max_ttl_hours = 8760;
select throws_ok(
  $$ select public.extend_conversation('pgtap-ttl-missing', 1) $$,
  'P0002', null,
  'extend of an unknown conversation is P0002'
);

-- Expired conversations are invisible -------------------------------------------------------------
select lives_ok(
  $$ select public.create_conversation('pgtap-ttl-expired', '7f1e0000-0000-4000-8000-0000000000a1');
     select public.append_message('pgtap-ttl-expired', 'user', 'one');
     select public.append_message('pgtap-ttl-expired', 'assistant', 'two') $$,
  'setup: a conversation with two messages'
);
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-ttl-expired';

select throws_ok($$ select public.get_messages('pgtap-ttl-expired') $$, 'P0002', null,
                 'get_messages of an expired conversation is P0002');
select throws_ok($$ select public.get_conversation('pgtap-ttl-expired') $$, 'P0002', null,
                 'get_conversation of an expired conversation is P0002');
select throws_ok($$ select public.export_conversation('pgtap-ttl-expired') $$, 'P0002', null,
                 'export_conversation of an expired conversation is P0002');
select throws_ok($$ select public.append_message('pgtap-ttl-expired', 'user', 'three') $$, 'P0002', null,
                 'append_message to an expired conversation is P0002');
select throws_ok($$ select public.begin_chat_turn('three', 'pgtap-ttl-expired') $$, 'P0002', null,
                 'begin_chat_turn on an expired conversation is P0002');
select throws_ok($$ select public.extend_conversation('pgtap-ttl-expired', 1) $$, 'P0002', null,
                 'extend_conversation of an expired conversation is P0002 (it cannot be revived)');
select throws_ok($$ select public.clear_conversation('pgtap-ttl-expired') $$, 'P0002', null,
                 'clear_conversation of an expired conversation is P0002');
select throws_ok($$ select public.delete_conversation('pgtap-ttl-expired') $$, 'P0002', null,
                 'delete_conversation of an expired conversation is P0002');
select results_eq(
  $$ select e ->> 'conversation_id'
       from json_array_elements(public.list_conversations('7f1e0000-0000-4000-8000-0000000000a1', 100) -> 'conversations') e $$,
  $$ values ('pgtap-ttl-default') $$,
  'list_conversations of the owner shows the live conversation only'
);
select results_eq(
  $$ select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-ttl-expired' $$,
  $$ values (2) $$,
  'the expired conversation''s messages are still stored (invisible, not yet cleaned up)'
);

-- ... also to the owner reading the tables directly (RLS)
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000a1');
select is_empty(
  $$ select 1 from public.ai_conversations where conversation_id = 'pgtap-ttl-expired' $$,
  'the owner does not see its expired conversation in the table'
);
select is_empty(
  $$ select 1 from public.ai_conversation_messages where conversation_id = 'pgtap-ttl-expired' $$,
  'the owner does not see the messages of its expired conversation'
);
select results_eq(
  $$ select conversation_id::text from public.ai_conversations $$,
  $$ values ('pgtap-ttl-default') $$,
  'the owner sees its live conversation'
);
select throws_ok($$ select public.get_messages('pgtap-ttl-expired') $$, 'P0002', null,
                 'get_messages of an expired conversation is P0002 for its owner');

-- An expired id can be created again before cleanup has run, by the service (users never choose ids:
-- the owner naming it is refused like any other id) -----------------------------------------------
select throws_ok(
  $$ select public.create_conversation('pgtap-ttl-expired') $$,
  '42501', null,
  'the owner may not name the id of its expired conversation (42501: users do not choose ids)'
);
select tests.clear_authentication();
select lives_ok(
  $$ select public.create_conversation('pgtap-ttl-expired', '7f1e0000-0000-4000-8000-0000000000a1') $$,
  'the service re-creates the id of the expired conversation for its owner'
);
select results_eq(
  $$ select user_id, message_count, last_seq, expires_at > now()
       from public.ai_conversations where conversation_id = 'pgtap-ttl-expired' $$,
  $$ values ('7f1e0000-0000-4000-8000-0000000000a1'::uuid, 0, 0::bigint, true) $$,
  'the re-created conversation is new, live and empty'
);
select results_eq(
  $$ select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-ttl-expired' $$,
  $$ values (0) $$,
  'the old messages went with the expired conversation'
);

update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-ttl-own';
select lives_ok(
  $$ select public.create_conversation('pgtap-ttl-own') $$,
  'the service re-creates the id of an expired conversation'
);
select results_eq(
  $$ select ttl_hours, message_count, expires_at from public.ai_conversations where conversation_id = 'pgtap-ttl-own' $$,
  $$ values (5, 0, now() + interval '5 hours') $$,
  'the re-created conversation has the default ttl and no messages'
);

update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-ttl-own';
select is(
  (public.begin_chat_turn('again', 'pgtap-ttl-own', p_create_if_missing => true)::jsonb ->> 'created')::boolean,
  true,
  'begin_chat_turn with p_create_if_missing re-creates an expired conversation'
);
select results_eq(
  $$ select seq, content from public.ai_conversation_messages where conversation_id = 'pgtap-ttl-own' $$,
  $$ values (1::bigint, 'again') $$,
  'the re-created conversation starts again at seq 1'
);

select throws_ok(
  $$ select public.create_conversation('pgtap-ttl-default') $$,
  '23505', 'conversation pgtap-ttl-default already exists',
  'a live conversation''s id cannot be created again (23505)'
);

select * from finish();
rollback;
