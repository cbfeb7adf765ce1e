-- Rule: fork. fork_conversation copies messages 1..at_seq of a live conversation the caller may
-- read into a new conversation of the same owner, recording forked_from; the source is left as it
-- was. A user cannot fork B's conversation, nor fork into someone else's name; anon cannot fork.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(12);

select public.create_conversation('pgtap-fork-a1', '7f1e0000-0000-4000-8000-0000000014a1', '{"topic": "t"}') is not null as setup \gset
select public.create_conversation('pgtap-fork-b1', '7f1e0000-0000-4000-8000-0000000014b1') is not null as setup \gset
select count(public.append_message('pgtap-fork-a1', case when i % 2 = 1 then 'user' else 'assistant' end, 'm' || i)) = 4 as setup
  from generate_series(1, 4) i \gset
select public.append_message('pgtap-fork-b1', 'user', 'B''s') is not null as setup \gset

-- Only the service chooses conversation ids (14_conversation_ids), so it names this fork.
select tests.authenticate_as_service();
-- Generated values (the row's id and timestamps) aside; row_id is checked against the row below.
select is(public.fork_conversation('pgtap-fork-a1', 3, 'pgtap-fork-a1-f')::jsonb - array['row_id', 'created_at', 'updated_at', 'expires_at'],
          jsonb_build_object('conversation_id', 'pgtap-fork-a1-f', 'user_id', '7f1e0000-0000-4000-8000-0000000014a1',
            'title', 'm1', 'metadata', '{"topic": "t", "forked_from": {"seq": 3, "conversation_id": "pgtap-fork-a1"}}'::jsonb,
            'archived', false, 'pinned', false, 'tags', '[]'::jsonb, 'legal_hold', false,
            'ttl_hours', 24, 'message_count', 3, 'last_seq', 3),
          'A forks its own conversation at seq 3: same owner, forked_from recorded');
select results_eq($$ select seq, role, content from public.ai_conversation_messages where conversation_id = 'pgtap-fork-a1-f' order by seq $$,
                  $$ values (1::bigint, 'user', 'm1'), (2, 'assistant', 'm2'), (3, 'user', 'm3') $$,
                  'the fork holds copies of messages 1..3 with their seq');
select is((public.get_conversation('pgtap-fork-a1-f', 0) ->> 'row_id')::uuid,
          (select id from public.ai_conversations where conversation_id = 'pgtap-fork-a1-f'),
          'a conversation names its row (row_id): what a live stream is bound to');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-fork-a1'), 4,
          'the source keeps all its messages');
select throws_ok($$ select public.fork_conversation('pgtap-fork-a1', 1, 'pgtap-fork-b1') $$, '23505', null,
                 'a fork cannot take an existing id');
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000014a1');
select is(public.fork_conversation('pgtap-fork-a1', 1, p_title => 'Other way')::jsonb - array['row_id', 'conversation_id', 'created_at', 'updated_at', 'expires_at', 'metadata', 'ttl_hours', 'tags', 'archived', 'pinned', 'legal_hold', 'message_count', 'last_seq'],
          jsonb_build_object('user_id', '7f1e0000-0000-4000-8000-0000000014a1', 'title', 'Other way'),
          'A forks its own conversation (a generated id), owned by A; a fork may be titled');
select throws_ok($$ select public.fork_conversation('pgtap-fork-a1', 5) $$, '22023', null, 'at_seq past the last message is rejected');
select throws_ok($$ select public.fork_conversation('pgtap-fork-a1', 0) $$, '22023', null, 'at_seq 0 is rejected');
select throws_ok($$ select public.fork_conversation('pgtap-fork-b1', 1, 'pgtap-fork-stolen') $$, 'P0002', null,
                 'A cannot fork B''s conversation (P0002)');
select throws_ok($$ select public.fork_conversation('pgtap-fork-a1', 1, 'pgtap-fork-b1') $$, '42501', null,
                 'a user cannot choose the fork''s id, taken or not');
select tests.authenticate_as_anon();
select throws_ok($$ select public.fork_conversation('pgtap-fork-a1', 1) $$, '42501', null, 'anon may not fork');
select tests.clear_authentication();
select is((select count(*)::integer from public.ai_conversations where conversation_id = 'pgtap-fork-stolen'), 0,
          'the failed attack created nothing');

select * from finish();
rollback;
