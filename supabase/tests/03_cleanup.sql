-- Rule: cleanup.
--
-- public.cleanup_expired_conversations() removes every expired conversation with all its
-- messages, in batches, leaves live conversations and their messages alone, and returns the
-- number of conversations removed. The totals in private.conversation_totals (what the
-- statistics read) always equal the real row counts: after appends, cleanup, clear, delete and
-- TRUNCATE.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(35);

-- This file truncates the tables, which needs their strongest lock. Taken first, before this
-- transaction holds anything another writer could wait for, it cannot deadlock with concurrent
-- appenders (the dev's app may be running): they wait until the rollback. It also makes the
-- counts below exact while other sessions write. Messages first: an append locks them first.
lock table public.ai_conversation_messages in access exclusive mode;
lock table public.ai_conversations in access exclusive mode;

-- The invariant checked throughout: totals = count(*), for the whole table, whatever else is in it.
create function pg_temp.totals_match() returns boolean
language sql as $$
  select (select sum(conversations) from private.conversation_totals) = (select count(*) from public.ai_conversations)
     and (select sum(messages) from private.conversation_totals) = (select count(*) from public.ai_conversation_messages)
$$;
create function pg_temp.message_counts_match() returns boolean
language sql as $$
  select not exists (
    select 1 from public.ai_conversations c
     where c.expires_at > now()
       and c.message_count <> (select count(*) from public.ai_conversation_messages m
                                where m.conversation_id = c.conversation_id))
$$;
-- New functions are closed by default (see the privileges migration): open these to the service.
grant execute on function pg_temp.totals_match(), pg_temp.message_counts_match() to service_role;

select ok(pg_temp.totals_match(), 'before the test, the totals equal the real counts');

-- Expired rows other sessions left behind are cleaned first, so the counts below are exact.
select tests.authenticate_as_service();
select lives_ok($$ select public.cleanup_expired_conversations() $$, 'service_role runs cleanup');
select is(public.cleanup_expired_conversations(), 0, 'a second run finds nothing to remove');

-- Five conversations to expire (3 messages each, one with none) and two live ones (2 messages each).
select lives_ok(
  $$ select public.create_conversation('pgtap-clean-e' || i) from generate_series(1, 5) i;
     select public.append_message('pgtap-clean-e' || i, 'user', 'message ' || n)
       from generate_series(1, 4) i, generate_series(1, 3) n;
     select public.create_conversation('pgtap-clean-l' || i) from generate_series(1, 2) i;
     select public.append_message('pgtap-clean-l' || i, 'assistant', 'message ' || n)
       from generate_series(1, 2) i, generate_series(1, 2) n $$,
  'setup: 5 conversations with 12 messages to expire, 2 live ones with 4 messages'
);
select ok(pg_temp.totals_match(), 'after creating and appending, the totals equal the real counts');
select ok(pg_temp.message_counts_match(), 'after appending, every message_count equals its real count');

update public.ai_conversations set expires_at = now() - interval '1 second'
 where conversation_id like 'pgtap-clean-e%';

select is(public.cleanup_expired_conversations(p_batch_size => 2), 5,
          'cleanup in batches of 2 removes all 5 expired conversations and returns 5');
select is_empty(
  $$ select 1 from public.ai_conversations where conversation_id like 'pgtap-clean-e%' $$,
  'the expired conversations are gone'
);
select is_empty(
  $$ select 1 from public.ai_conversation_messages where conversation_id like 'pgtap-clean-e%' $$,
  'their messages are gone'
);
select results_eq(
  $$ select conversation_id::text, message_count,
            (select count(*)::integer from public.ai_conversation_messages m where m.conversation_id = c.conversation_id)
       from public.ai_conversations c where conversation_id like 'pgtap-clean-l%' order by 1 $$,
  $$ values ('pgtap-clean-l1', 2, 2), ('pgtap-clean-l2', 2, 2) $$,
  'the live conversations and their messages are untouched'
);
select ok(pg_temp.totals_match(), 'after cleanup, the totals equal the real counts');
select is(public.cleanup_expired_conversations(p_batch_size => 2), 0, 'nothing is left to remove');

-- Exactly one batch size of expired rows: the loop must still stop, and remove them all.
select lives_ok(
  $$ select public.create_conversation('pgtap-clean-b' || i) from generate_series(1, 3) i $$,
  'setup: 3 more conversations'
);
update public.ai_conversations set expires_at = now() - interval '1 second'
 where conversation_id like 'pgtap-clean-b%';
select is(public.cleanup_expired_conversations(p_batch_size => 3), 3,
          'a batch size equal to the number of expired rows removes them all');
select lives_ok(
  $$ select public.create_conversation('pgtap-clean-c' || i) from generate_series(1, 3) i $$,
  'setup: 3 more conversations'
);
update public.ai_conversations set expires_at = now() where conversation_id like 'pgtap-clean-c%';
select is(public.cleanup_expired_conversations(), 3,
          'with the default batch size, conversations expiring exactly now are removed');

select throws_ok($$ select public.cleanup_expired_conversations(0) $$, '22023', null,
                 'a batch size of 0 is rejected (22023)');
select throws_ok($$ select public.cleanup_expired_conversations(null) $$, '22023', null,
                 'a null batch size is rejected (22023)');
select throws_ok($$ select public.cleanup_expired_conversations(100001) $$, '22023', null,
                 'a batch size above 100000 is rejected (22023)');

-- Totals after clear_conversation and delete_conversation -----------------------------------------
select is((public.clear_conversation('pgtap-clean-l1')::jsonb ->> 'cleared')::integer, 2,
          'clear_conversation reports the 2 messages it removed');
select ok(pg_temp.totals_match(), 'after clear_conversation, the totals equal the real counts');
select results_eq(
  $$ select message_count, last_seq from public.ai_conversations where conversation_id = 'pgtap-clean-l1' $$,
  $$ values (0, 2::bigint) $$,
  'after clear_conversation, message_count is 0 and last_seq is kept'
);
select lives_ok($$ select public.delete_conversation('pgtap-clean-l2') $$, 'delete_conversation');
select is_empty(
  $$ select 1 from public.ai_conversation_messages where conversation_id = 'pgtap-clean-l2' $$,
  'delete_conversation removed the messages too'
);
select ok(pg_temp.totals_match(), 'after delete_conversation, the totals equal the real counts');

-- ... and after direct deletes of rows (the dashboard's table editor) --------------------------------
select lives_ok(
  $$ select public.append_message('pgtap-clean-l1', 'user', 'x' || n) from generate_series(1, 3) n $$,
  'setup: 3 messages'
);
delete from public.ai_conversation_messages where conversation_id = 'pgtap-clean-l1' and seq = 4;
select ok(pg_temp.totals_match(), 'after a direct delete of one message, the totals equal the real counts');
select ok(pg_temp.message_counts_match(), 'after a direct delete of one message, message_count equals the real count');
delete from public.ai_conversations where conversation_id = 'pgtap-clean-l1';
select ok(pg_temp.totals_match(), 'after a direct delete of a conversation, the totals equal the real counts');

-- ... and after TRUNCATE (postgres only: no API role may truncate) ---------------------------------
select throws_ok($$ truncate public.ai_conversation_messages $$, '42501', null,
                 'service_role cannot truncate the messages');
select tests.clear_authentication();
select lives_ok(
  $$ select public.create_conversation('pgtap-clean-t');
     select public.append_message('pgtap-clean-t', 'user', 'x' || n) from generate_series(1, 3) n $$,
  'setup: a conversation with 3 messages'
);
truncate public.ai_conversation_messages;
select ok(pg_temp.totals_match(), 'after truncating the messages, the totals equal the real counts');
select results_eq(
  $$ select count(*)::integer from public.ai_conversations where message_count <> 0 $$,
  $$ values (0) $$,
  'after truncating the messages, every conversation''s message_count is 0'
);
select is(
  public.append_message('pgtap-clean-t', 'user', 'after truncate')::jsonb -> 'message' ->> 'seq',
  '4',
  'after truncating the messages, sequence numbers are not reused'
);
set local client_min_messages to warning;  -- no notice about the cascade
truncate public.ai_conversations cascade;
select ok(pg_temp.totals_match(), 'after truncating the conversations, the totals equal the real counts (0)');

select * from finish();
rollback;
