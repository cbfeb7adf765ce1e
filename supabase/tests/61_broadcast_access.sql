-- Rule: who may receive and send on the store's Realtime topics (the policies of realtime.messages).
--
-- Checked the way Realtime authorises a private channel: it stores a probe row for the topic,
-- then reads it back (receive) or stores one (send) as the client, with role, JWT claims and
-- realtime.topic set (tests.realtime_receives / tests.realtime_sends). A user receives the topic
-- of its own live conversation only: never B's, the anonymous one's, the service topic, an
-- expired or deleted conversation of its own, nor the new row of a reused id; a clear keeps the
-- conversation (and its topic) its owner's. anon receives nothing. Nobody sends on these topics.
-- A host application's permissive policies on realtime.messages open none of this, and the
-- store's policies leave the host's own topics to it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(28);

-- Setup (as postgres) ------------------------------------------------------------------------------
-- A = 7f1e0000-0000-4000-8000-00000000000a, B = 7f1e0000-0000-4000-8000-00000000000b
select public.create_conversation('pgtap-rt-a', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rt-a-expired', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rt-a-deleted', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rt-a-cleared', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rt-a-reused', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-rt-b', '7f1e0000-0000-4000-8000-00000000000b') is not null as setup \gset
select public.create_conversation('pgtap-rt-anon') is not null as setup \gset
select count(public.append_message(c, 'user', 'hello')) = 4 as setup
  from unnest(array['pgtap-rt-a', 'pgtap-rt-a-cleared', 'pgtap-rt-b', 'pgtap-rt-anon']) c \gset
select 'ai_conversations:' || id as a_topic from public.ai_conversations where conversation_id = 'pgtap-rt-a' \gset
select 'ai_conversations:' || id as expired_topic from public.ai_conversations where conversation_id = 'pgtap-rt-a-expired' \gset
select 'ai_conversations:' || id as deleted_topic from public.ai_conversations where conversation_id = 'pgtap-rt-a-deleted' \gset
select 'ai_conversations:' || id as cleared_topic from public.ai_conversations where conversation_id = 'pgtap-rt-a-cleared' \gset
select 'ai_conversations:' || id as old_topic from public.ai_conversations where conversation_id = 'pgtap-rt-a-reused' \gset
select 'ai_conversations:' || id as b_topic from public.ai_conversations where conversation_id = 'pgtap-rt-b' \gset
select 'ai_conversations:' || id as anon_topic from public.ai_conversations where conversation_id = 'pgtap-rt-anon' \gset

-- A's expired conversation; one A deleted; one A cleared; and an id A had that B now uses.
update public.ai_conversations set expires_at = now() - interval '1 second'
 where conversation_id in ('pgtap-rt-a-expired', 'pgtap-rt-a-reused');
select public.delete_conversation('pgtap-rt-a-deleted') is not null as setup \gset
select public.clear_conversation('pgtap-rt-a-cleared') is not null as setup \gset
select public.create_conversation('pgtap-rt-a-reused', '7f1e0000-0000-4000-8000-00000000000b') is not null as setup \gset
select 'ai_conversations:' || id as reused_topic from public.ai_conversations where conversation_id = 'pgtap-rt-a-reused' \gset

-- As user A ------------------------------------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select ok(tests.realtime_receives(:'a_topic'), 'A receives its own live conversation''s topic');
select is(public.conversation_topic('pgtap-rt-a'), :'a_topic', 'A asks for that topic by conversation id');
select ok(tests.realtime_receives(:'cleared_topic'), 'a cleared conversation stays A''s: A still receives its topic');
select ok(not tests.realtime_receives(:'b_topic'), 'A does not receive B''s conversation''s topic');
select ok(not tests.realtime_receives(:'anon_topic'), 'A does not receive the anonymous conversation''s topic');
select ok(not tests.realtime_receives('ai_conversations:service'), 'A does not receive the service topic');
select ok(not tests.realtime_receives(:'expired_topic'), 'A''s expired conversation''s topic is closed to A');
select ok(not tests.realtime_receives(:'deleted_topic'), 'A''s deleted conversation''s topic is closed to A');
select ok(not tests.realtime_receives(:'old_topic'), 'the expired row of a reused id is closed to A, its former owner');
select ok(not tests.realtime_receives(:'reused_topic'), 'and the new row of that id (B''s) is not A''s either');
select ok(not tests.realtime_receives('ai_conversations:not-a-row'), 'a topic naming no row is closed');
select ok(not tests.realtime_receives(:'a_topic', 'presence'), 'presence on A''s topic is not granted (broadcast only)');
select ok(not tests.realtime_sends(:'a_topic'), 'A may not send on its own conversation''s topic');
select ok(not tests.realtime_sends('ai_conversations:service'), 'A may not send on the service topic');
select throws_ok($$ select public.conversation_topic('pgtap-rt-b') $$, 'P0002', null,
                 'asking for B''s conversation''s topic is P0002, as if it did not exist');
select throws_ok($$ select public.conversation_topic('pgtap-rt-a-expired') $$, 'P0002', null,
                 'asking for an expired conversation''s topic is P0002');

-- As user B, as anon, as the service -----------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000b');
select ok(tests.realtime_receives(:'reused_topic'), 'B receives the topic of the reused id''s new row (its own)');
select ok(not tests.realtime_receives(:'a_topic'), 'B does not receive A''s topic');
select tests.authenticate_as_anon();
select ok(not tests.realtime_receives(:'a_topic'), 'anon does not receive A''s topic');
select ok(not tests.realtime_receives(:'anon_topic'), 'anon does not receive the anonymous conversation''s topic');
select ok(not tests.realtime_receives('ai_conversations:service'), 'anon does not receive the service topic');
select throws_ok($$ select public.conversation_topic('pgtap-rt-anon') $$, '42501', null,
                 'anon may not even ask for a topic');
select tests.authenticate_as_service();
select ok(tests.realtime_receives('ai_conversations:service'), 'the service receives the service topic');

-- Next to a host application with wide policies of its own ------------------------------------------
select tests.clear_authentication();
create policy "host: signed-in users receive every topic" on realtime.messages
  for select to authenticated using (true);
create policy "host: anyone receives every topic" on realtime.messages for select to anon using (true);
create policy "host: anyone sends on every topic" on realtime.messages
  for insert to anon, authenticated with check (true);

select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000b');
select ok(not tests.realtime_receives(:'a_topic'), 'a host policy letting users receive everything still does not open A''s topic to B');
select ok(not tests.realtime_sends(:'a_topic'), 'nor one letting anyone send: B may not send on A''s topic');
select ok(tests.realtime_receives('room:lobby') and tests.realtime_sends('room:lobby'),
          'the host''s own topics are left to the host''s policies');
select tests.authenticate_as_anon();
select ok(not tests.realtime_receives(:'a_topic') and not tests.realtime_receives('ai_conversations:service'),
          'a host policy letting anon receive everything does not open the store''s topics to anon');
select ok(tests.realtime_receives('room:lobby'), 'while anon receives the host''s topic as the host wants');

select * from finish();
rollback;
