-- Rule: the database has what Supabase Realtime's schema provides for Broadcast from the database.
--
-- On the local stack the platform bootstrap creates it (on a Supabase project Realtime does):
-- realtime.messages with Realtime's columns, partitioned by range of inserted_at with a
-- partition for today, RLS on; realtime.topic() reads realtime.topic; realtime.send() stores a
-- private broadcast row (its payload keeps an id, or gets the row's), sets realtime.topic, and
-- never fails its caller; realtime.broadcast_changes() sends a row change in Postgres Changes'
-- shape and refuses statement-level use.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(13);

select columns_are(
  'realtime', 'messages',
  array['topic', 'extension', 'payload', 'event', 'private', 'updated_at', 'inserted_at', 'id', 'binary_payload'],
  'realtime.messages has Realtime''s columns'
);
select col_type_is('realtime', 'messages', 'payload', 'jsonb', 'payload is jsonb');
select col_type_is('realtime', 'messages', 'inserted_at', 'timestamp without time zone', 'inserted_at is timestamp');
select is(
  (select pg_get_partkeydef('realtime.messages'::regclass)), 'RANGE (inserted_at)',
  'realtime.messages is partitioned by range of inserted_at'
);
select ok(
  exists (select 1 from pg_inherits i
           where i.inhparent = 'realtime.messages'::regclass
             and i.inhrelid = to_regclass('realtime.messages_' || to_char(now() at time zone 'utc', 'YYYY_MM_DD'))),
  'a partition for today exists (realtime.messages_YYYY_MM_DD)'
);
select is((select c.relrowsecurity from pg_class c where c.oid = 'realtime.messages'::regclass), true,
          'RLS is on for realtime.messages');
select has_function('realtime', 'send', array['jsonb', 'text', 'text', 'boolean'], 'realtime.send(payload, event, topic, private)');

select is(realtime.topic(), null, 'realtime.topic() is null outside an authorisation check');
select realtime.send('{"hello": "world"}', 'greeting', 'pgtap:realtime', false);
select results_eq(
  $$ select topic, event, private, extension, payload - 'id', payload ->> 'id' = id::text
       from realtime.messages where topic = 'pgtap:realtime' $$,
  $$ values ('pgtap:realtime', 'greeting', false, 'broadcast', '{"hello": "world"}'::jsonb, true) $$,
  'realtime.send stores one broadcast row; a payload without id gets the row''s'
);
select is(realtime.topic(), 'pgtap:realtime', 'realtime.send sets realtime.topic for the transaction');

create temp table pgtap_rt_change (id integer, note text) on commit drop;
insert into pgtap_rt_change values (1, 'old'), (2, 'new');
select realtime.broadcast_changes('pgtap:changes', 'UPDATE', 'UPDATE', 'pgtap_rt_change', 'pg_temp', n, o)
  from pgtap_rt_change n, pgtap_rt_change o where n.id = 2 and o.id = 1;
select is(
  (select payload - 'id' from realtime.messages where topic = 'pgtap:changes'),
  '{"record": {"id": 2, "note": "new"}, "old_record": {"id": 1, "note": "old"}, "operation": "UPDATE",
    "table": "pgtap_rt_change", "schema": "pg_temp"}'::jsonb,
  'realtime.broadcast_changes sends record, old_record, operation, table and schema'
);
select throws_ok(
  $$ select realtime.broadcast_changes('pgtap:changes', 'X', 'INSERT', 't', 's', null::record, null::record, 'STATEMENT') $$,
  'P0001', null, 'realtime.broadcast_changes refuses statement-level use'
);

do $$
declare
  v_partition regclass;
begin
  for v_partition in select i.inhrelid::regclass from pg_inherits i where i.inhparent = 'realtime.messages'::regclass loop
    execute format('alter table realtime.messages detach partition %s', v_partition);
  end loop;
end
$$;
set local client_min_messages = error;
select lives_ok($$ select realtime.send('{}', 'lost', 'pgtap:realtime') $$,
                'realtime.send does not fail its caller when the row cannot be stored (it warns)');

select * from finish();
rollback;
