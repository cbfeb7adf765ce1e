-- Rule: feedback. One rating (+1 or -1, optional comment) per user per message of a live
-- conversation the user may read; a second rating replaces the first; withdrawing deletes it;
-- ratings go with their message. A user cannot rate, read or withdraw ratings on B's messages;
-- anon can do nothing. The dashboard view groups ratings by model and day.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(14);

select has_table('public', 'ai_message_feedback', 'the feedback table exists');
select has_view('public', 'ai_feedback_by_model_day', 'the ratings view exists');

select public.create_conversation('pgtap-fb-a1', '7f1e0000-0000-4000-8000-0000000015a1') is not null as setup \gset
select public.create_conversation('pgtap-fb-b1', '7f1e0000-0000-4000-8000-0000000015b1') is not null as setup \gset
select public.append_message('pgtap-fb-a1', 'user', 'q') is not null as setup \gset
select public.append_message('pgtap-fb-a1', 'assistant', 'a', '{"model": "pgtap-model"}') is not null as setup \gset
select public.append_message('pgtap-fb-b1', 'assistant', 'b', '{"model": "pgtap-model"}') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000015a1');
select is(public.set_message_feedback('pgtap-fb-a1', 2, 1, 'good') -> 'feedback' ->> 'rating', '1', 'A rates its message');
select is(public.set_message_feedback('pgtap-fb-a1', 2, -1) -> 'feedback' ->> 'rating', '-1', 'a second rating replaces the first');
select is((select count(*)::integer from public.ai_message_feedback where conversation_id = 'pgtap-fb-a1'), 1,
          'one rating per user per message');
select throws_ok($$ select public.set_message_feedback('pgtap-fb-a1', 2, 3) $$, '22023', null, 'a rating other than 1 or -1 is rejected');
select throws_ok($$ select public.set_message_feedback('pgtap-fb-b1', 1, 1) $$, 'P0002', null, 'A cannot rate B''s message (P0002)');
select throws_ok($$ insert into public.ai_message_feedback (conversation_id, seq, user_id, rating)
                    values ('pgtap-fb-b1', 1, '7f1e0000-0000-4000-8000-0000000015a1', 1) $$,
                 '42501', null, 'A cannot insert a rating of B''s message directly');
select throws_ok($$ insert into public.ai_message_feedback (conversation_id, seq, user_id, rating)
                    values ('pgtap-fb-a1', 1, '7f1e0000-0000-4000-8000-0000000015b1', 1) $$,
                 '42501', null, 'A cannot rate in B''s name');
select throws_ok($$ select public.delete_message_feedback('pgtap-fb-b1', 1) $$, 'P0002', null, 'A cannot withdraw on B''s message');

select tests.authenticate_as_service();
select is(public.set_message_feedback('pgtap-fb-b1', 1, 1) -> 'feedback' ->> 'rating', '1', 'the service rates any message');
select results_eq($$ select ratings::integer, thumbs_up::integer, thumbs_down::integer from public.ai_feedback_by_model_day where model = 'pgtap-model' $$,
                  $$ values (2, 1, 1) $$, 'the view counts ratings per model and day');
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000015a1');
select is(public.delete_message_feedback('pgtap-fb-a1', 2) ->> 'deleted', 'true', 'A withdraws its rating');
select tests.clear_authentication();
select public.set_message_feedback('pgtap-fb-a1', 2, 1) is not null as setup \gset
select public.clear_conversation('pgtap-fb-a1') is not null as setup \gset
select is((select count(*)::integer from public.ai_message_feedback where conversation_id = 'pgtap-fb-a1'), 0,
          'ratings go with their messages');

select * from finish();
rollback;
