-- Rule: feedback is returned with the message. get_conversation and get_messages put the caller's
-- own rating on each message it rated (messages[].feedback, the object set_message_feedback
-- answers); an unrated message has no feedback key. Whose: the caller's only. A user never sees
-- another rater's rating (here the service's), and the service reads its own (user_id null) there,
-- not the users' (it reads every rating in ai_message_feedback).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(14);

select public.create_conversation('pgtap-fbr-a1', '7f1e0000-0000-4000-8000-0000000030a1') is not null as setup \gset
select count(public.append_message('pgtap-fbr-a1', case when i % 2 = 1 then 'user' else 'assistant' end, 'm' || i)) = 4 as setup
  from generate_series(1, 4) i \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000030a1');
select is((select count(*)::integer from json_array_elements(public.get_conversation('pgtap-fbr-a1', 10) -> 'messages') m
            where m::jsonb ? 'feedback'), 0,
          'no rating yet: no message carries a feedback key');
select is((select rated from public.ai_conversations where conversation_id = 'pgtap-fbr-a1'), false,
          'a conversation nobody rated is not flagged rated');
select public.set_message_feedback('pgtap-fbr-a1', 2, 1, 'good') is not null as setup \gset
select tests.authenticate_as_service();
select public.set_message_feedback('pgtap-fbr-a1', 4, -1, 'the service''s') is not null as setup \gset
select public.set_message_feedback('pgtap-fbr-a1', 2, -1) is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000030a1');
select is((select (m::jsonb -> 'feedback') - array['created_at', 'updated_at']
             from json_array_elements(public.get_conversation('pgtap-fbr-a1', 10) -> 'messages') m
            where (m ->> 'seq')::integer = 2),
          '{"rating": 1, "comment": "good", "user_id": "7f1e0000-0000-4000-8000-0000000030a1"}'::jsonb,
          'get_conversation: A''s message 2 carries A''s own rating (not the service''s -1)');
select is((select array_agg((m ->> 'seq')::integer order by (m ->> 'seq')::integer)
             from json_array_elements(public.get_conversation('pgtap-fbr-a1', 10) -> 'messages') m
            where m::jsonb ? 'feedback'), array[2],
          'only the rated message carries feedback: the service''s rating of message 4 is not shown to A');
select is((select m::jsonb -> 'feedback' ->> 'rating'
             from json_array_elements(public.get_messages('pgtap-fbr-a1', 2, 4)) m
            where (m ->> 'seq')::integer = 2), '1',
          'get_messages (a page before seq 4) carries A''s rating too');
select is((select count(*)::integer from json_array_elements(public.get_messages('pgtap-fbr-a1', 1)) m
            where m::jsonb ? 'feedback'), 0,
          'a page without A''s rated message carries none');
select is((select json_agg(m ->> 'seq')::jsonb from json_array_elements(public.get_conversation('pgtap-fbr-a1', 2) -> 'messages') m),
          '["3", "4"]'::jsonb, 'the page is the same newest messages, rated or not');
select is((public.get_conversation('pgtap-fbr-a1', 2) ->> 'next_cursor'), '3', 'and the cursor is unchanged');

select tests.authenticate_as_service();
select is((select json_object_agg(m ->> 'seq', m::jsonb -> 'feedback' ->> 'rating')::jsonb
             from json_array_elements(public.get_conversation('pgtap-fbr-a1', 10) -> 'messages') m
            where m::jsonb ? 'feedback'),
          '{"2": "-1", "4": "-1"}'::jsonb,
          'the service reads its own ratings (user_id null) with the messages, not A''s');
select is((select (m::jsonb -> 'feedback') ->> 'user_id' from json_array_elements(public.get_messages('pgtap-fbr-a1', 10)) m
            where (m ->> 'seq')::integer = 4), null, 'the service''s rating has user_id null');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000030b1');
select throws_ok($$ select public.get_conversation('pgtap-fbr-a1', 10) $$, 'P0002', null,
                 'B cannot read A''s conversation, nor so its ratings');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000030a1');
select public.delete_message_feedback('pgtap-fbr-a1', 2) is not null as setup \gset
select is((select count(*)::integer from json_array_elements(public.get_conversation('pgtap-fbr-a1', 10) -> 'messages') m
            where m::jsonb ? 'feedback'), 0,
          'a withdrawn rating is no longer returned');
select tests.clear_authentication();
select is((select rated from public.ai_conversations where conversation_id = 'pgtap-fbr-a1'), true,
          'the conversation stays flagged rated after a withdrawal (the readers only join its ratings)');
select tests.authenticate_as_anon();
select throws_ok($$ select public.get_messages('pgtap-fbr-a1', 10) $$, '42501', null, 'anon reads nothing');

select * from finish();
rollback;
