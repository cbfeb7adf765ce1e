-- Rule: per-conversation ordering and idempotent appends.
--
-- seq is 1, 2, 3... per conversation, independent between conversations, and never reused (it
-- continues after clear). An append with an idempotency key already used in the conversation
-- returns the original message with replayed = true and changes nothing; the same key in another
-- conversation is another message. begin_chat_turn creates the conversation when no id is given,
-- appends the user message and returns the last N messages, oldest first, including the new one.
-- Reads return the newest N (or a page before a cursor) oldest first, within max_page_size.
-- (Concurrent appenders are covered by the pytest integration tests.)
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(46);

select tests.authenticate_as_service();

select lives_ok(
  $$ select public.create_conversation('pgtap-ord-1');
     select public.create_conversation('pgtap-ord-2') $$,
  'setup: two conversations'
);

-- seq per conversation ---------------------------------------------------------------------------
select is(public.append_message('pgtap-ord-1', 'user', 'a1')::jsonb -> 'message' ->> 'seq', '1',
          'the first message of a conversation gets seq 1');
select is(public.append_message('pgtap-ord-2', 'user', 'b1')::jsonb -> 'message' ->> 'seq', '1',
          'the first message of another conversation also gets seq 1');
select is(public.append_message('pgtap-ord-1', 'assistant', 'a2')::jsonb -> 'message' ->> 'seq', '2',
          'the second message gets seq 2');
select is(public.append_message('pgtap-ord-2', 'assistant', 'b2')::jsonb -> 'message' ->> 'seq', '2',
          'interleaved appends do not share a counter');
select is(public.append_message('pgtap-ord-1', 'tool', 'a3')::jsonb -> 'message' ->> 'seq', '3',
          'the third message gets seq 3');
select results_eq(
  $$ select conversation_id::text, seq, content from public.ai_conversation_messages
      where conversation_id in ('pgtap-ord-1', 'pgtap-ord-2') order by conversation_id, seq $$,
  $$ values ('pgtap-ord-1', 1::bigint, 'a1'), ('pgtap-ord-1', 2::bigint, 'a2'), ('pgtap-ord-1', 3::bigint, 'a3'),
            ('pgtap-ord-2', 1::bigint, 'b1'), ('pgtap-ord-2', 2::bigint, 'b2') $$,
  'each conversation is numbered 1..n in append order'
);
select results_eq(
  $$ select conversation_id::text, message_count, last_seq from public.ai_conversations
      where conversation_id in ('pgtap-ord-1', 'pgtap-ord-2') order by 1 $$,
  $$ values ('pgtap-ord-1', 3, 3::bigint), ('pgtap-ord-2', 2, 2::bigint) $$,
  'message_count and last_seq follow the appends'
);
select lives_ok(
  $$ select public.create_conversation('pgtap-ord-3');
     insert into public.ai_conversation_messages (conversation_id, role, content, seq)
     values ('pgtap-ord-3', 'user', 'x', 42) $$,
  'service_role inserts a message directly, naming a seq of its own'
);
select results_eq(
  $$ select seq from public.ai_conversation_messages where conversation_id = 'pgtap-ord-3' $$,
  $$ values (1::bigint) $$,
  'a direct insert gets the next seq from the trigger, whatever seq it named'
);

-- seq continues after clear --------------------------------------------------------------------
select is((public.clear_conversation('pgtap-ord-1')::jsonb ->> 'cleared')::integer, 3,
          'clear_conversation removes the 3 messages');
select is(public.append_message('pgtap-ord-1', 'user', 'a4')::jsonb -> 'message' ->> 'seq', '4',
          'after clear, numbering continues at 4 (seq is never reused)');
select results_eq(
  $$ select message_count, last_seq from public.ai_conversations where conversation_id = 'pgtap-ord-1' $$,
  $$ values (1, 4::bigint) $$,
  'after clear and one append: message_count 1, last_seq 4'
);

-- idempotent append --------------------------------------------------------------------------------
create temp table first_append on commit drop as
  select public.append_message('pgtap-ord-2', 'user', 'original', '{"try": 1}', 'key-1')::jsonb as r;
select is((select r ->> 'replayed' from first_append), 'false', 'the first append with a key is not a replay');
select is((select r -> 'message' ->> 'seq' from first_append), '3', 'the first append with a key gets the next seq');

create temp table second_append on commit drop as
  select public.append_message('pgtap-ord-2', 'user', 'original', '{"try": 2}', 'key-1')::jsonb as r;
select is((select r ->> 'replayed' from second_append), 'true', 'the retry with the same key is a replay');
select is((select r -> 'message' ->> 'id' from second_append), (select r -> 'message' ->> 'id' from first_append),
          'the replay returns the original message id');
select is((select r -> 'message' from second_append), (select r -> 'message' from first_append),
          'the replay returns the original message unchanged (content, metadata, seq)');
select results_eq(
  $$ select message_count, last_seq, (select count(*)::integer from public.ai_conversation_messages m
                                       where m.conversation_id = 'pgtap-ord-2')
       from public.ai_conversations where conversation_id = 'pgtap-ord-2' $$,
  $$ values (3, 3::bigint, 3) $$,
  'the replay stored nothing and changed neither message_count nor last_seq'
);
select is(public.append_message('pgtap-ord-2', 'user', 'next')::jsonb -> 'message' ->> 'seq', '4',
          'the next append gets seq 4: the replay left no gap');

select isnt(
  public.append_message('pgtap-ord-1', 'user', 'same key elsewhere', '{}', 'key-1')::jsonb -> 'message' ->> 'id',
  (select r -> 'message' ->> 'id' from first_append),
  'the same key in another conversation is another message'
);
select results_eq(
  $$ select count(*)::integer from public.ai_conversation_messages where idempotency_key = 'key-1'
        and conversation_id in ('pgtap-ord-1', 'pgtap-ord-2') $$,
  $$ values (2) $$,
  'one message per conversation carries key-1'
);

-- begin_chat_turn -------------------------------------------------------------------------------
-- pgtap-ord-1 holds seq 4 and 5; add 6..8, then a turn with history_limit 3.
select lives_ok(
  $$ select public.append_message('pgtap-ord-1', case when n % 2 = 0 then 'user' else 'assistant' end, 'h' || n)
       from generate_series(6, 8) n $$,
  'setup: three more messages'
);
create temp table turn on commit drop as
  select public.begin_chat_turn('question', 'pgtap-ord-1', p_history_limit => 3, p_idempotency_key => 'turn-1')::jsonb as r;
select is((select (r ->> 'created')::boolean from turn), false, 'a turn on an existing conversation does not create one');
select is((select r -> 'message' ->> 'seq' from turn), '9', 'the turn appends the user message with the next seq');
select results_eq(
  $$ select (h ->> 'seq')::bigint, h ->> 'role', h ->> 'content'
       from turn, json_array_elements((r -> 'history')::json) with ordinality as x(h, n) order by n $$,
  $$ values (7::bigint, 'assistant', 'h7'), (8::bigint, 'user', 'h8'), (9::bigint, 'user', 'question') $$,
  'the history is the last 3 messages, oldest first, ending with the new message'
);
select is((select r -> 'history' -> 2 ->> 'id' from turn), (select r -> 'message' ->> 'id' from turn),
          'the last history entry is the message just appended');

create temp table turn_retry on commit drop as
  select public.begin_chat_turn('question', 'pgtap-ord-1', p_history_limit => 3, p_idempotency_key => 'turn-1')::jsonb as r;
select is((select (r ->> 'replayed')::boolean from turn_retry), true, 'a retried turn with the same key is a replay');
select is((select r -> 'history' from turn_retry), (select r -> 'history' from turn),
          'a retried turn returns the same message and history');
select results_eq(
  $$ select last_seq from public.ai_conversations where conversation_id = 'pgtap-ord-1' $$,
  $$ values (9::bigint) $$,
  'a retried turn appends nothing'
);

create temp table new_turn on commit drop as
  select public.begin_chat_turn('hello') ::jsonb as r;
select is((select (r ->> 'created')::boolean from new_turn), true, 'a turn without a conversation id creates one');
select results_eq(
  $$ select c.message_count, c.expires_at > now() from public.ai_conversations c, new_turn
      where c.conversation_id = new_turn.r ->> 'conversation_id' $$,
  $$ values (1, true) $$,
  'the created conversation exists, is live, and holds the user message'
);
select results_eq(
  $$ select (h ->> 'seq')::bigint, h ->> 'role', h ->> 'content'
       from new_turn, json_array_elements((r -> 'history')::json) h $$,
  $$ values (1::bigint, 'user', 'hello') $$,
  'its history is the one new message'
);
select is(
  (public.begin_chat_turn('hi', 'pgtap-ord-new', p_create_if_missing => true)::jsonb ->> 'created')::boolean,
  true,
  'with p_create_if_missing, a turn on an unknown id creates it under that id'
);
select throws_ok(
  $$ select public.begin_chat_turn('hi', 'pgtap-ord-unknown') $$,
  'P0002', null,
  'without p_create_if_missing, a turn on an unknown id is P0002'
);
select throws_ok(
  $$ select public.begin_chat_turn('hi', 'pgtap-ord-1', p_history_limit => 0) $$,
  '22023', null,
  'a history limit of 0 is rejected (22023)'
);

-- Reads: newest N oldest first, cursor pages, limits ------------------------------------------------
select results_eq(
  $$ select (m ->> 'seq')::bigint from json_array_elements(public.get_messages('pgtap-ord-1', 3)) m $$,
  $$ values (7::bigint), (8::bigint), (9::bigint) $$,
  'get_messages returns the newest 3, oldest first'
);
select results_eq(
  $$ select (m ->> 'seq')::bigint from json_array_elements(public.get_messages('pgtap-ord-1', 2, 7)) m $$,
  $$ values (5::bigint), (6::bigint) $$,
  'get_messages before seq 7 returns the page 5, 6'
);
select results_eq(
  $$ select (public.get_conversation('pgtap-ord-1', 2)::jsonb ->> 'next_cursor')::bigint,
            (public.get_conversation('pgtap-ord-1', 2, 5)::jsonb ->> 'next_cursor')::bigint,
            jsonb_array_length(public.get_conversation('pgtap-ord-1', 0)::jsonb -> 'messages') $$,
  $$ values (8::bigint, null::bigint, 0) $$,
  'get_conversation pages backwards with next_cursor (null on the first page), 0 returns no messages'
);
select throws_ok($$ select public.get_messages('pgtap-ord-1', 0) $$, '22023', null,
                 'get_messages with limit 0 is rejected (22023)');
select throws_ok($$ select public.get_messages('pgtap-ord-1', (select max_page_size + 1 from public.ai_conversation_settings)) $$,
                 '22023', null, 'get_messages above max_page_size is rejected (22023)');
select throws_ok($$ select public.get_conversation('pgtap-ord-1', null) $$, '22023', null,
                 'get_conversation with a null limit is rejected, not unbounded (22023)');

-- list_conversations: most recently updated first, keyset pages ------------------------------------
select tests.clear_authentication();
select lives_ok(
  $$ select public.create_conversation('pgtap-ord-u' || i, '7f1e0000-0000-4000-8000-0000000000d1') from generate_series(1, 3) i $$,
  'setup: three conversations of one user'
);
-- updated_at is now() for all three (one transaction), so the order falls back to id; spread it.
set local session_replication_role = replica;
update public.ai_conversations set updated_at = now() - interval '1 minute' * substr(conversation_id, 12)::integer
 where conversation_id like 'pgtap-ord-u%';
set local session_replication_role = origin;
select tests.authenticate_as_service();
create temp table page1 on commit drop as
  select public.list_conversations('7f1e0000-0000-4000-8000-0000000000d1', 2)::jsonb as r;
select results_eq(
  $$ select e ->> 'conversation_id' from page1, jsonb_array_elements(r -> 'conversations') with ordinality x(e, n) order by n $$,
  $$ values ('pgtap-ord-u1'), ('pgtap-ord-u2') $$,
  'the first page holds the 2 most recently updated conversations'
);
select results_eq(
  $$ select e ->> 'conversation_id', r2 ->> 'next_cursor'
       from page1
            cross join lateral (select public.list_conversations('7f1e0000-0000-4000-8000-0000000000d1', 2, r ->> 'next_cursor')::jsonb as r2) l
            cross join lateral jsonb_array_elements(r2 -> 'conversations') e $$,
  $$ values ('pgtap-ord-u3', null::text) $$,
  'the cursor gives the rest, and no further cursor'
);
select throws_ok($$ select public.list_conversations(null, 10, 'not-a-cursor') $$, '22023', null,
                 'a malformed cursor is rejected (22023)');

select * from finish();
rollback;
