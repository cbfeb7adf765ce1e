-- Rule: a summary covering every message left is the whole context (issue 22, item 4).
--
-- 10 messages, a summary at seq 11 covering [1, 8], messages 9 and 10 deleted: the window holds
-- no message, the summary stands for everything, and nothing is left out that no summary
-- covers (it reported [11, null] before, which the API could not read: a 500).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(5);

select public.create_conversation('pgtap-ctx-all', '7f1e0000-0000-4000-8000-0000000000c1') is not null as setup \gset
select count(public.append_message('pgtap-ctx-all', case when n % 2 = 1 then 'user' else 'assistant' end,
                                   'message ' || n, jsonb_build_object('tokens', 10))) = 10 as setup
  from generate_series(1, 10) n \gset
select public.append_summary('pgtap-ctx-all', 'one to eight', 1, 8) is not null as setup \gset
delete from public.ai_conversation_messages where conversation_id = 'pgtap-ctx-all' and seq in (9, 10);

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000c1');
select is(public.get_context('pgtap-ctx-all', 1000)::jsonb -> 'messages', '[]'::jsonb,
          'no message is in the window: the summary covers them all');
select is((public.get_context('pgtap-ctx-all', 1000)::jsonb -> 'summary' ->> 'seq')::int, 11,
          'the summary is sent');
select is(public.get_context('pgtap-ctx-all', 1000)::jsonb -> 'left_out',
          '{"summarized": [1, 8], "unsummarized": null, "unsummarized_tokens": 0}'::jsonb,
          'nothing is left out but what the summary covers');
select is(public.get_context('pgtap-ctx-all', 1000)::jsonb -> 'compaction',
          '{"due": false, "first_seq": 1, "last_seq": null, "tokens": 0}'::jsonb,
          'no compaction is due');
select is((public.get_context('pgtap-ctx-all', 1000) ->> 'tokens')::int,
          (public.get_context('pgtap-ctx-all', 1000) -> 'summary' ->> 'tokens')::int,
          'the tokens sent are the summary''s');
select * from finish();
rollback;
