-- Rule: every change is broadcast from the database, as realtime.messages rows.
--
-- A new message goes to its conversation's private topic ai_conversations:<row id> and to the
-- service topic ai_conversations:service as event "message", its payload the message as the API
-- returns it plus row_id (the row, as the store's readers name it); deletions go out as "messages_deleted" or "cleared"; a
-- deleted or cleaned-up conversation as "conversation_deleted" (reason "deleted" or "expired").
-- Every row is private and of extension broadcast. A replayed idempotency key sends nothing; a
-- message above broadcast_max_bytes goes without content and metadata ("partial"); the
-- settings turn either topic off (both are off by default where no Realtime server reads the
-- rows); and a broadcast that cannot be stored never fails the change.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(27);

-- Setup (as postgres): A's conversation, with the settings as a Supabase project has them --------
-- A = 7f1e0000-0000-4000-8000-00000000000a
select is(
  (select s.broadcast_conversations or s.broadcast_service from public.ai_conversation_settings s),
  to_regclass('realtime.schema_migrations') is not null,
  'by default broadcast is on where a Realtime server reads realtime.messages, off where none does (the local stack)'
);
update public.ai_conversation_settings
   set broadcast_conversations = true, broadcast_service = true, broadcast_max_bytes = 200000;
select public.create_conversation('pgtap-bc-a', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select id as a_row from public.ai_conversations where conversation_id = 'pgtap-bc-a' \gset
create temp table sent on commit drop as select * from realtime.messages where false;
-- What a step sent: the rows of realtime.messages it added (they are ours: this test's ids).
create function pg_temp.sent_since() returns setof realtime.messages language sql as $$
  select m.* from realtime.messages m
   where m.payload ->> 'conversation_id' like 'pgtap-bc-%'
     and not exists (select 1 from sent s where s.id = m.id)
$$;
create function pg_temp.step() returns void language sql as $$
  insert into sent select * from pg_temp.sent_since();
$$;

-- A new message ----------------------------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select public.append_message('pgtap-bc-a', 'user', 'hello broadcast', '{"client": "pgtap"}', 'bc-key-1')
  is not null as setup \gset
select tests.clear_authentication();

select results_eq(
  $$ select topic, event, private, extension from pg_temp.sent_since() order by topic $$,
  format($$ values (%L, 'message', true, 'broadcast'), ('ai_conversations:service', 'message', true, 'broadcast') $$,
         'ai_conversations:' || :'a_row'),
  'a message appended by its owner goes to its conversation''s topic and to the service topic: private, broadcast, "message"'
);
select is(
  (select payload from pg_temp.sent_since() where topic = 'ai_conversations:' || :'a_row'),
  (select (public.get_messages('pgtap-bc-a')::jsonb -> 0) - 'tokens_before'
          || jsonb_build_object('row_id', :'a_row'::uuid)),
  'its payload is the message as the API returns it, with the conversation''s row id'
);
select is(
  (select payload from pg_temp.sent_since() where topic = 'ai_conversations:service'),
  (select payload from pg_temp.sent_since() where topic = 'ai_conversations:' || :'a_row'),
  'the service topic carries the same payload'
);
select is(
  (select payload ->> 'id' from pg_temp.sent_since() limit 1),
  (select m.id::text from public.ai_conversation_messages m where m.conversation_id = 'pgtap-bc-a' and m.seq = 1),
  'the payload''s id is the message''s (as realtime.send keeps it)'
);
select is(
  private.topic_conversation_row('ai_conversations:' || :'a_row'), :'a_row'::uuid,
  'the topic names the conversation row (topic_conversation_row inverts conversation_topic)'
);
select pg_temp.step();

select public.append_message('pgtap-bc-a', 'user', 'hello broadcast', '{"client": "pgtap"}', 'bc-key-1')
  is not null as setup \gset
select is_empty($$ select 1 from pg_temp.sent_since() $$, 'a replayed idempotency key sends nothing');

-- One statement, several messages: one row per message and topic, in seq order -----------------
select public.append_messages('pgtap-bc-a', '[{"role": "user", "content": "batch one"},
                                             {"role": "assistant", "content": "batch two"}]')
  is not null as setup \gset
select results_eq(
  $$ select topic, (payload ->> 'seq')::bigint, payload ->> 'content' from pg_temp.sent_since()
      order by topic, (payload ->> 'seq')::bigint $$,
  format($$ values (%1$L, 2::bigint, 'batch one'), (%1$L, 3::bigint, 'batch two'),
                   ('ai_conversations:service', 2::bigint, 'batch one'), ('ai_conversations:service', 3::bigint, 'batch two') $$,
         'ai_conversations:' || :'a_row'),
  'a statement that appends two messages broadcasts each to both topics'
);
select is(
  (select array_agg((m.payload ->> 'seq')::bigint order by m.ctid) from realtime.messages m
    where m.topic = 'ai_conversations:service' and m.payload ->> 'conversation_id' = 'pgtap-bc-a'
      and not exists (select 1 from sent s where s.id = m.id)),
  array[2, 3]::bigint[],
  'written in seq order (the order Realtime reads them from the WAL)'
);
select pg_temp.step();

-- Large messages -----------------------------------------------------------------------------------
update public.ai_conversation_settings set broadcast_max_bytes = 1000;
select public.append_message('pgtap-bc-a', 'assistant', repeat('long ', 400), '{"model": "m"}') is not null as setup \gset
select is(
  (select payload from pg_temp.sent_since() where topic = 'ai_conversations:' || :'a_row'),
  (select jsonb_build_object('id', m.id, 'conversation_id', m.conversation_id, 'seq', m.seq, 'role', m.role,
                             'created_at', m.created_at, 'idempotency_key', m.idempotency_key, 'tokens', m.tokens,
                             'user_id', m.user_id, 'row_id', :'a_row'::uuid, 'partial', true)
     from public.ai_conversation_messages m where m.conversation_id = 'pgtap-bc-a' and m.seq = 4),
  'a message above broadcast_max_bytes goes without content and metadata, marked partial'
);
update public.ai_conversation_settings set broadcast_max_bytes = 200000;
select pg_temp.step();

-- Deletions ----------------------------------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
delete from public.ai_conversation_messages where conversation_id = 'pgtap-bc-a' and seq = 1;
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, payload - 'id' from pg_temp.sent_since() order by topic $$,
  format($$ values (%1$L, 'messages_deleted', %2$L::jsonb), ('ai_conversations:service', 'messages_deleted', %2$L::jsonb) $$,
         'ai_conversations:' || :'a_row',
         jsonb_build_object('row_id', :'a_row'::uuid, 'conversation_id', 'pgtap-bc-a', 'deleted', 1,
                            'first_seq', 1, 'last_seq', 1, 'remaining', 3)),
  'deleting one message tells both topics which seqs went and how many remain'
);
select pg_temp.step();

select public.append_message('pgtap-bc-a', 'user', 'one more') is not null as setup \gset
select pg_temp.step();
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select public.clear_conversation('pgtap-bc-a') is not null as setup \gset
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, payload - 'id' from pg_temp.sent_since() order by topic $$,
  format($$ values (%1$L, 'cleared', %2$L::jsonb), ('ai_conversations:service', 'cleared', %2$L::jsonb) $$,
         'ai_conversations:' || :'a_row',
         jsonb_build_object('row_id', :'a_row'::uuid, 'conversation_id', 'pgtap-bc-a', 'deleted', 4,
                            'first_seq', 2, 'last_seq', 5, 'remaining', 0)),
  'a clear is "cleared": every message went'
);
select pg_temp.step();

select public.append_message('pgtap-bc-a', 'user', 'after the clear') is not null as setup \gset
select pg_temp.step();
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select public.delete_conversation('pgtap-bc-a') is not null as setup \gset
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, payload - 'id' from pg_temp.sent_since() order by topic $$,
  format($$ values (%1$L, 'conversation_deleted', %2$L::jsonb), ('ai_conversations:service', 'conversation_deleted', %2$L::jsonb) $$,
         'ai_conversations:' || :'a_row',
         jsonb_build_object('row_id', :'a_row'::uuid, 'conversation_id', 'pgtap-bc-a', 'reason', 'deleted')),
  'deleting a conversation sends "conversation_deleted" (reason deleted), and nothing for its messages'
);
select pg_temp.step();

-- Expiry: the cleanup, and the reuse of an expired id ----------------------------------------------
select public.create_conversation('pgtap-bc-old', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select id as old_row from public.ai_conversations where conversation_id = 'pgtap-bc-old' \gset
select public.append_message('pgtap-bc-old', 'user', 'soon expired') is not null as setup \gset
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-bc-old';
select pg_temp.step();
select is(public.cleanup_expired_conversations() >= 1, true, 'setup: the cleanup removed the expired conversation');
select results_eq(
  $$ select topic, event, payload - 'id' from pg_temp.sent_since() order by topic $$,
  format($$ values (%1$L, 'conversation_deleted', %2$L::jsonb), ('ai_conversations:service', 'conversation_deleted', %2$L::jsonb) $$,
         'ai_conversations:' || :'old_row',
         jsonb_build_object('row_id', :'old_row'::uuid, 'conversation_id', 'pgtap-bc-old', 'reason', 'expired')),
  'an expired conversation the cleanup removes sends "conversation_deleted" with reason expired'
);
select pg_temp.step();

select public.create_conversation('pgtap-bc-reused', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select id as reused_row from public.ai_conversations where conversation_id = 'pgtap-bc-reused' \gset
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-bc-reused';
select tests.authenticate_as_service();
select public.create_conversation('pgtap-bc-reused', '7f1e0000-0000-4000-8000-00000000000b') is not null as setup \gset
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, payload ->> 'reason' from pg_temp.sent_since() order by topic $$,
  format($$ values (%L, 'conversation_deleted', 'expired'), ('ai_conversations:service', 'conversation_deleted', 'expired') $$,
         'ai_conversations:' || :'reused_row'),
  'reusing an expired id (for another user) tells the old row''s topic it expired'
);
select isnt(
  (select id from public.ai_conversations where conversation_id = 'pgtap-bc-reused'), :'reused_row'::uuid,
  'the reused id is a new row, so a new topic'
);
select pg_temp.step();

-- The settings ---------------------------------------------------------------------------------------
select public.create_conversation('pgtap-bc-s') is not null as setup \gset
select id as s_row from public.ai_conversations where conversation_id = 'pgtap-bc-s' \gset
update public.ai_conversation_settings set broadcast_service = false;
select public.append_message('pgtap-bc-s', 'user', 'conversation topic only') is not null as setup \gset
select results_eq(
  $$ select topic from pg_temp.sent_since() $$, format($$ values (%L) $$, 'ai_conversations:' || :'s_row'),
  'broadcast_service = false: the conversation''s topic only'
);
select pg_temp.step();
update public.ai_conversation_settings set broadcast_service = true, broadcast_conversations = false;
select public.append_message('pgtap-bc-s', 'user', 'service topic only') is not null as setup \gset
select results_eq(
  $$ select topic from pg_temp.sent_since() $$, $$ values ('ai_conversations:service') $$,
  'broadcast_conversations = false: the service topic only'
);
select pg_temp.step();
update public.ai_conversation_settings set broadcast_service = false;
select public.append_message('pgtap-bc-s', 'user', 'nothing') is not null as setup \gset
select public.clear_conversation('pgtap-bc-s') is not null as setup \gset
select public.delete_conversation('pgtap-bc-s') is not null as setup \gset
select is_empty($$ select 1 from pg_temp.sent_since() $$, 'both off: appends, clears and deletes send nothing');
update public.ai_conversation_settings set broadcast_service = true, broadcast_conversations = true;

-- A broadcast that cannot be stored (no partition for today) never fails the change ---------------
select public.create_conversation('pgtap-bc-np') is not null as setup \gset
do $$
declare
  v_partition regclass;
begin
  for v_partition in
    select i.inhrelid::regclass from pg_inherits i where i.inhparent = 'realtime.messages'::regclass
  loop
    execute format('alter table realtime.messages detach partition %s', v_partition);
  end loop;
end
$$;
set local client_min_messages = error;  -- realtime.send's warnings, expected here
select lives_ok($$ select public.append_message('pgtap-bc-np', 'user', 'no partition') $$,
                'an append succeeds when realtime.messages cannot take the broadcast (a warning, as realtime.send gives)');
reset client_min_messages;
select is((select message_count from public.ai_conversations where conversation_id = 'pgtap-bc-np'), 1,
          'and the message is stored');

-- Who may run what -------------------------------------------------------------------------------------
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.oid in ('private.broadcast_messages()'::regprocedure, 'private.broadcast_deleted_messages()'::regprocedure,
                      'private.broadcast_deleted_conversations()'::regprocedure, 'private.service_topic()'::regprocedure)
        and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute')
             or has_function_privilege('service_role', p.oid, 'execute')) $$,
  'no API role may execute the broadcast triggers or name the service topic'
);
select is(
  (select count(*)::integer from pg_trigger t
    where t.tgrelid in ('public.ai_conversations'::regclass, 'public.ai_conversation_messages'::regclass)
      and t.tgname like 'broadcast\_%' and not t.tgisinternal
      and (t.tgtype & 1) = 0),
  3,
  'three statement triggers of their own send: after insert and after delete on messages, after delete on conversations'
);
select is(
  (select starts_with(private.conversation_topic(gen_random_uuid()), 'ai_conversations:')
          and starts_with(private.service_topic(), 'ai_conversations:')),
  true,
  'every topic the store names has the prefix its realtime.messages policies guard'
);
select is(private.topic_conversation_row('ai_conversations:service'), null, 'the service topic names no conversation row');
select is(private.topic_conversation_row('ai_conversations:' || :'a_row' || 'x'), null,
          'a topic with more after the row id names no row');

select * from finish();
rollback;
