-- Rule: one call begins a turn (begin_turn). It checks the request before reading anything, puts
-- the turn where it goes (a given live conversation, one created when missing, or a new one whose
-- owner a user may only name as itself), stores the input in order (the turn's own message, the
-- last, under the turn's key), records the turn (in progress), and answers the history window
-- ending with the input. With truncation disabled a history that does not fit is refused (54000,
-- reason context_length_exceeded) and nothing is stored; with store false nothing is written at all.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(16);

select public.create_conversation('pgtap-bt-a', '7f1e0000-0000-4000-8000-0000000042a1') is not null as setup \gset
select public.append_message('pgtap-bt-a', 'user', 'earlier ' || repeat('x ', 50)) is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000042a1');

-- The request first.
select throws_ok($$ select public.begin_turn('[]', 'pgtap-bt-a') $$, '22023', null, 'an empty input is refused');
select throws_ok($$ select public.begin_turn('[{"role": "robot", "content": "x"}]', 'pgtap-bt-a') $$, '22023', null,
  'a message of an unknown role is refused');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "x"}]', 'pgtap-bt-a', p_kind => 'email') $$,
  '22023', null, 'an unknown kind is refused');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "x"}]', 'pgtap-bt-a', p_truncate => false) $$,
  '22023', null, 'truncation is disabled only with a token budget');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "x"}]', 'pgtap-bt-a', p_previous_response_id => 'resp_x') $$,
  '22023', null, 'a conversation and a previous response are mutually exclusive');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "x"}]', p_user_id => '7f1e0000-0000-4000-8000-0000000042b1') $$,
  '42501', null, 'a user may not name another user as owner');
select is((select count(*)::integer from public.ai_turns t where t.conversation_id = 'pgtap-bt-a'), 0,
  'no refused request left a turn');

-- A turn: input stored, the turn recorded, the window ending with the input.
select public.begin_turn('[{"role": "system", "content": "be brief"}, {"role": "user", "content": "now"}]',
                         'pgtap-bt-a', p_idempotency_key => 'k1', p_history_limit => 2)::jsonb as t1 \gset
select is((:'t1'::jsonb -> 'turn' ->> 'state'), 'in_progress', 'the turn is in progress');
select is((select array_agg(seq || ':' || role || ':' || coalesce(idempotency_key, '-') order by seq)
             from public.ai_conversation_messages where conversation_id = 'pgtap-bt-a' and seq > 1),
          array['2:system:-', '3:user:k1'], 'the input is stored in order; the turn''s own message takes its key');
select is((select array_agg((m ->> 'seq')::integer) from jsonb_array_elements(:'t1'::jsonb -> 'history') m),
          array[2, 3], 'the window: the last two messages, ending with the input');
select is((:'t1'::jsonb -> 'turn' ->> 'last_seq')::integer, 3, 'the turn knows its last message');

-- Created when missing, by the service (users never choose ids).
select tests.authenticate_as_service();
select ok((public.begin_turn('[{"role": "user", "content": "hi"}]', 'pgtap-bt-new', p_create_if_missing => true,
                             p_user_id => '7f1e0000-0000-4000-8000-0000000042a1')::jsonb ->> 'created')::boolean,
  'a missing conversation is created when asked');

-- Truncation disabled: all of the history or nothing.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000042a1');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "more"}]', 'pgtap-bt-a',
                                              p_token_budget => 20, p_truncate => false) $$,
  '54000', null, 'a history that does not fit is refused with truncation disabled');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-bt-a'), 3,
  'and nothing of the input is stored');

-- Store false: the window of what is stored, nothing written.
select public.begin_turn('[{"role": "user", "content": "dry"}]', 'pgtap-bt-a', p_store => false,
                         p_token_budget => 1000)::jsonb as dry \gset
select is((:'dry'::jsonb ->> 'turn'), null, 'a turn that stores nothing has no row');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-bt-a'), 3,
  'and writes no message');

select * from finish();
rollback;
