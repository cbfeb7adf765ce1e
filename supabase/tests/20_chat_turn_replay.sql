-- Rule: a chat turn's idempotency is SQL.
--
-- With an idempotency key K, the turn's tool results are stored under K:tool:n and its reply
-- under K:assistant, keys append_message derives from p_turn_key (hashed past 255 characters).
-- begin_chat_turn answers a replayed K with what the first attempt stored: its reply, or the
-- tool results stored before it stopped (in order, up to the first missing one), and stores
-- nothing again; a second reply under K is a replay of the first. A turn key names only a
-- tool result (with its index) or the reply, never with an idempotency key too. Another user
-- replaying K in A's conversation learns nothing.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(17);

select public.create_conversation('pgtap-turn-1', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');

select is(
  (select array[t ->> 'replayed', t ->> 'reply', json_array_length(t -> 'tool_results')::text]
     from (select public.begin_chat_turn('2+2?', 'pgtap-turn-1', p_idempotency_key => 'k') t) x),
  array['false', null, '0'],
  'a first attempt: not replayed, nothing stored before it'
);
select is(
  public.append_message('pgtap-turn-1', 'tool', '4', '{"tool": "calculator", "args": {}, "round": 1}',
                        p_turn_key => 'k', p_tool_index => 1)::jsonb -> 'message' ->> 'idempotency_key',
  'k:tool:1', 'a tool result''s key is derived from the turn''s'
);
select is(
  (public.begin_chat_turn('2+2?', 'pgtap-turn-1', p_idempotency_key => 'k')::jsonb
     -> 'tool_results' -> 0 ->> 'content'),
  '4', 'a replay after a stored tool result returns it'
);
select is(
  public.begin_chat_turn('2+2?', 'pgtap-turn-1', p_idempotency_key => 'k')::jsonb ->> 'reply', null,
  'and no reply: the first attempt stopped before one'
);
select is(
  public.append_message('pgtap-turn-1', 'tool', '4', '{}', p_turn_key => 'k', p_tool_index => 1)::jsonb ->> 'replayed',
  'true', 'the same tool result stored again is a replay'
);
select is(
  public.append_message('pgtap-turn-1', 'assistant', 'It is 4.', '{}', p_turn_key => 'k')::jsonb
    -> 'message' ->> 'idempotency_key',
  'k:assistant', 'the reply''s key is derived from the turn''s'
);
select is(
  public.append_message('pgtap-turn-1', 'assistant', 'It is four.', '{}', p_turn_key => 'k')::jsonb
    -> 'message' ->> 'content',
  'It is 4.', 'a second reply under the key is a replay of the first'
);
select is(
  (public.begin_chat_turn('2+2?', 'pgtap-turn-1', p_idempotency_key => 'k')::jsonb -> 'reply' ->> 'content'),
  'It is 4.', 'a replay after a completed turn returns the stored reply'
);
select is(
  (select array_agg(role || ':' || coalesce(idempotency_key, '') order by seq)
     from public.ai_conversation_messages where conversation_id = 'pgtap-turn-1'),
  array['user:k', 'tool:k:tool:1', 'assistant:k:assistant'],
  'after four attempts: one user message, one tool result, one reply'
);

-- The tool results come in order, up to the first one missing.
select public.begin_chat_turn('more', 'pgtap-turn-1', p_idempotency_key => 'm') is not null as setup \gset
select count(public.append_message('pgtap-turn-1', 'tool', 'r' || i, '{}', p_turn_key => 'm', p_tool_index => i)) = 2 as setup
  from unnest(array[1, 3]) i \gset
select is(
  (select array_agg(e ->> 'content') from json_array_elements(
     public.begin_chat_turn('more', 'pgtap-turn-1', p_idempotency_key => 'm') -> 'tool_results') e),
  array['r1'], 'the tool results of a replay stop at the first index missing'
);

-- Keys past the column's length are hashed.
select is(length(private.turn_key(repeat('k', 251), 'assistant')) <= 255, true, 'a long turn key still fits the column');
select is(private.turn_key(repeat('k', 251), 'assistant') like 'sha256:%:assistant', true, 'by hashing it');

-- What a turn key may name.
select throws_ok($$ select public.append_message('pgtap-turn-1', 'user', 'x', '{}', p_turn_key => 'k') $$,
                 '22023', null, 'a turn key does not name a user message');
select throws_ok($$ select public.append_message('pgtap-turn-1', 'tool', 'x', '{}', p_turn_key => 'k') $$,
                 '22023', null, 'a tool result needs its index');
select throws_ok($$ select public.append_message('pgtap-turn-1', 'assistant', 'x', '{}', 'own', p_turn_key => 'k') $$,
                 '22023', null, 'a turn key and an idempotency key are not both given');

-- RLS: B replaying A's key in A's conversation.
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000b');
select throws_ok($$ select public.begin_chat_turn('2+2?', 'pgtap-turn-1', p_idempotency_key => 'k') $$,
                 'P0002', null, 'B replaying A''s key in A''s conversation: not found');
select throws_ok($$ select public.append_message('pgtap-turn-1', 'assistant', 'x', '{}', p_turn_key => 'k') $$,
                 'P0002', null, 'B cannot read A''s reply through a turn key');
select * from finish();
rollback;
