-- Rule: a response's messages are its own. A fork copies messages with their metadata
-- (metadata.openai.response_id included); the copies are the fork's history, so get_response
-- and delete_response never see them: the original response is read and deleted alone, and the
-- fork's copies stay when it is. A summary written after a response (compaction) leaves it the
-- latest of its conversation.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(8);

select public.create_conversation('pgtap-rfork-1', '7f1e0000-0000-4000-8000-0000000019c1') is not null as setup \gset
select public.append_messages('pgtap-rfork-1',
  '[{"role": "user", "content": "one", "metadata": {"openai": {"type": "message", "response_id": "resp_pgtap_rfork", "source": "input"}}},
    {"role": "assistant", "content": "two", "metadata": {"openai": {"type": "message", "response_id": "resp_pgtap_rfork", "source": "output"}}},
    {"role": "user", "content": "three"}]') is not null as setup \gset

select public.create_conversation('pgtap-rfork-2', '7f1e0000-0000-4000-8000-0000000019c1') is not null as setup \gset
select public.append_messages('pgtap-rfork-2',
  '[{"role": "user", "content": "q", "metadata": {"openai": {"type": "message", "response_id": "resp_pgtap_rfork_2", "source": "input"}}},
    {"role": "assistant", "content": "a", "metadata": {"openai": {"type": "message", "response_id": "resp_pgtap_rfork_2", "source": "output"}}}]') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000019c1');
select ok((public.get_response('resp_pgtap_rfork_2') ->> 'latest')::boolean, 'a response nothing follows is the latest');
select public.append_summary('pgtap-rfork-2', 'a summary', 1, 2) is not null as setup \gset
select ok((public.get_response('resp_pgtap_rfork_2') ->> 'latest')::boolean, 'and stays it when a summary follows');
select ok((public.get_response('resp_pgtap_rfork') ->> 'latest')::boolean = false,
          'a response followed by a message is not the latest');
select is(public.fork_conversation('pgtap-rfork-1', 2) ->> 'message_count', '2', 'A forks after the response') ;
select is(public.get_response('resp_pgtap_rfork') -> 'conversation' ->> 'conversation_id', 'pgtap-rfork-1',
          'the response is still the original''s');
select is(json_array_length(public.get_response('resp_pgtap_rfork') -> 'messages'), 2,
          'with its own two messages, not the fork''s copies');
select is((public.delete_response('resp_pgtap_rfork') ->> 'deleted')::integer, 2, 'deleting it deletes those two');
select is((select count(*)::integer from public.ai_conversation_messages
            where metadata #>> '{openai,response_id}' = 'resp_pgtap_rfork' or metadata ? 'forked_from'), 2,
          'the fork''s copies stay');

select * from finish();
rollback;
