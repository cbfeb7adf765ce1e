-- Rule: a response's messages are its own: the ones its turn stored. A fork copies messages with
-- their metadata; the copies are the fork's history, so get_response and delete_response never see
-- them: the original response is read and deleted alone, and the fork's copies stay when it is.
-- A summary written after a response (compaction) leaves it the latest of its conversation.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(8);

-- Two responses of the user, as the /v1 face stores them (begin_turn, then finish_turn), the
-- first followed by a message.
select public.create_conversation('pgtap-rfork-1', '7f1e0000-0000-4000-8000-0000000019c1') is not null as setup \gset
select public.create_conversation('pgtap-rfork-2', '7f1e0000-0000-4000-8000-0000000019c1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000019c1');
select public.begin_turn('[{"role": "user", "content": "one"}]', 'pgtap-rfork-1', p_kind => 'response',
  p_token_budget => 1000, p_turn_id => '00000000-0000-4000-8000-0000000019c1') is not null as setup \gset
select public.finish_turn('00000000-0000-4000-8000-0000000019c1', '[{"role": "assistant", "content": "two"}]') is not null as setup \gset
select public.append_message('pgtap-rfork-1', 'user', 'three') is not null as setup \gset
select public.begin_turn('[{"role": "user", "content": "q"}]', 'pgtap-rfork-2', p_kind => 'response',
  p_token_budget => 1000, p_turn_id => '00000000-0000-4000-8000-0000000019c2') is not null as setup \gset
select public.finish_turn('00000000-0000-4000-8000-0000000019c2', '[{"role": "assistant", "content": "a"}]') is not null as setup \gset

select ok((public.get_response('resp_000000000000400080000000000019c2') ->> 'latest')::boolean, 'a response nothing follows is the latest');
select public.append_summary('pgtap-rfork-2', 'a summary', 1, 2) is not null as setup \gset
select ok((public.get_response('resp_000000000000400080000000000019c2') ->> 'latest')::boolean, 'and stays it when a summary follows');
select ok((public.get_response('resp_000000000000400080000000000019c1') ->> 'latest')::boolean = false,
          'a response followed by a message is not the latest');
select is(public.fork_conversation('pgtap-rfork-1', 2) ->> 'message_count', '2', 'A forks after the response') ;
select is(public.get_response('resp_000000000000400080000000000019c1') -> 'conversation' ->> 'conversation_id', 'pgtap-rfork-1',
          'the response is still the original''s');
select is(json_array_length(public.get_response('resp_000000000000400080000000000019c1') -> 'input')
          + json_array_length(public.get_response('resp_000000000000400080000000000019c1') -> 'output'), 2,
          'with its own two messages, not the fork''s copies');
select is((public.delete_response('resp_000000000000400080000000000019c1') ->> 'deleted')::integer, 2, 'deleting it deletes those two');
select is((select count(*)::integer from public.ai_conversation_messages m
            join public.ai_conversations c using (conversation_id)
            where c.user_id = '7f1e0000-0000-4000-8000-0000000019c1' and m.metadata ? 'forked_from'), 2,
          'the fork''s copies stay');

select * from finish();
rollback;
