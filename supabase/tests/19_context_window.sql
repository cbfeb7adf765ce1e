-- Rule: the token-budgeted context window, summaries and compaction.
--
-- The window holds the newest messages whose token counts fit in the budget (less the latest
-- summary's, when one fits), the newest message always in even when it alone is larger; it
-- never starts with a tool result (a round enters whole, with the user message it answers);
-- messages a summary covers are sent as that summary; the latest summary wins (a later one
-- may cover an earlier one plus newer messages). Compaction is due when what is left out and
-- no summary covers exceeds compaction_threshold_tokens. Raw messages stay in every read. A user
-- reads the context of its own conversations only.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(27);

-- Setup: exact counts through metadata.tokens. A = ...0a, B = ...0b.
select public.create_conversation('pgtap-ctx-1', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select count(public.append_message('pgtap-ctx-1', r, c, jsonb_build_object('tokens', t) || m)) = 7 as setup
  from (values (1, 'user', 'hello', 10, '{}'::jsonb),
               (2, 'assistant', 'hi there', 20, '{}'),
               (3, 'user', '2+2 and 3+3?', 10, '{}'),
               (4, 'tool', '4', 5, '{"tool": "calculator", "args": {"expression": "2+2"}, "round": 1}'),
               (5, 'tool', '6', 5, '{"tool": "calculator", "args": {"expression": "3+3"}, "round": 1}'),
               (6, 'assistant', '4 and 6', 10, '{}'),
               (7, 'user', 'thanks', 10, '{}')) v(n, r, c, t, m) \gset
create function pg_temp.seqs(p_context json) returns bigint[] language sql as $$
  select array(select (e ->> 'seq')::bigint from json_array_elements(p_context -> 'messages') e)
$$;
grant execute on function pg_temp.seqs(json) to authenticated;

select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');

select is(pg_temp.seqs(public.get_context('pgtap-ctx-1', 20)), array[6, 7]::bigint[],
          'the newest messages that fit: 10 + 10 in 20');
select is(pg_temp.seqs(public.get_context('pgtap-ctx-1', 40)), array[3, 4, 5, 6, 7]::bigint[],
          'a round enters whole with the user message it answers');
select is(pg_temp.seqs(public.get_context('pgtap-ctx-1', 25)), array[6, 7]::bigint[],
          'a round cut by the budget stays out whole (no tool result without its call and question)');
select is(pg_temp.seqs(public.get_context('pgtap-ctx-1', 35)), array[6, 7]::bigint[],
          'so does a round that fits without the question it answers');
select is((public.get_context('pgtap-ctx-1', 25) ->> 'tokens')::int, 20, 'the token total is what was kept');
select is(pg_temp.seqs(public.get_context('pgtap-ctx-1', 5)), array[7]::bigint[],
          'a single message larger than the budget is still sent, alone');
select is((public.get_context('pgtap-ctx-1', 5) ->> 'tokens')::int, 10, 'and its tokens are reported as they are');
select ok(
  (select bool_and((public.get_context('pgtap-ctx-1', b) ->> 'tokens')::int <= greatest(b, 10))
     from generate_series(1, 100) b),
  'for every budget from 1 to 100 the window fits (but for the newest message alone)'
);
select ok(
  (select bool_and(public.get_context('pgtap-ctx-1', b) -> 'messages' -> 0 ->> 'role' <> 'tool')
     from generate_series(1, 100) b),
  'for every budget the window starts with no tool result'
);
select is(
  public.get_context('pgtap-ctx-1', 20)::jsonb -> 'left_out',
  '{"summarized": null, "unsummarized": [1, 5], "unsummarized_tokens": 50}'::jsonb,
  'what was left out, seqs and tokens'
);
select is((public.get_context('pgtap-ctx-1', 20)::jsonb -> 'compaction' ->> 'due')::boolean, false,
          'below the threshold (default 4000) no compaction is due');

-- Summaries ------------------------------------------------------------------------------------------
select is((public.append_summary('pgtap-ctx-1', 'S1: greetings', 1, 2, 'm', 6)::jsonb -> 'message' ->> 'seq')::int, 8,
          'a summary is stored as a message');
select is(public.append_summary('pgtap-ctx-1', 'S1 again', 1, 2, 'm', 6)::jsonb ->> 'replayed', 'true',
          'one summary per range: a second one is a replay');
select is(pg_temp.seqs(public.get_context('pgtap-ctx-1', 26)), array[6, 7]::bigint[],
          'the summary''s tokens come out of the budget');
select is(public.get_context('pgtap-ctx-1', 26)::jsonb -> 'summary' ->> 'seq', '8', 'and the summary is sent');
select is(pg_temp.seqs(public.get_context('pgtap-ctx-1', 1000)), array[3, 4, 5, 6, 7]::bigint[],
          'what a summary covers is sent as the summary, never twice');
select is((public.get_context('pgtap-ctx-1', 1000) ->> 'tokens')::int, 46, 'the total counts the summary');
select is(
  public.get_context('pgtap-ctx-1', 26)::jsonb -> 'left_out',
  '{"summarized": [1, 2], "unsummarized": [3, 5], "unsummarized_tokens": 20}'::jsonb,
  'left out: what the summary covers, and what it does not'
);
select tests.clear_authentication();
update public.ai_conversation_settings set compaction_threshold_tokens = 15;
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select is(
  public.get_context('pgtap-ctx-1', 26)::jsonb -> 'compaction',
  '{"due": true, "first_seq": 1, "last_seq": 5, "tokens": 20}'::jsonb,
  'above the threshold compaction is due, extending the latest summary'
);
select is(
  (select array[(i ->> 'first_seq')::int, (i ->> 'last_seq')::int, (i -> 'summary' ->> 'seq')::int]
     from (select public.get_summary_input('pgtap-ctx-1', 1, 5)::jsonb i) x),
  array[1, 5, 8],
  'the summary input: the earlier summary it extends'
);
select is(pg_temp.seqs(public.get_summary_input('pgtap-ctx-1', 1, 5)), array[3, 4, 5]::bigint[],
          'and the messages after it');
select is((public.append_summary('pgtap-ctx-1', 'S2: greetings and sums', 1, 5, 'm', 4)::jsonb -> 'message' ->> 'seq')::int, 9,
          'a later summary covers the earlier one plus newer messages');
select is(public.get_context('pgtap-ctx-1', 24)::jsonb -> 'summary' ->> 'seq', '9', 'the latest summary is the one sent');
select is(
  public.get_context('pgtap-ctx-1', 24)::jsonb -> 'compaction' ->> 'due', 'false',
  'nothing left out is unsummarized: no compaction due'
);
select is(json_array_length(public.get_messages('pgtap-ctx-1', 100)), 9,
          'reads still show every message, summaries included (marked by metadata.kind)');

-- RLS ------------------------------------------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000b');
select throws_ok($$ select public.get_context('pgtap-ctx-1', 100) $$, 'P0002', null,
                 'B cannot read A''s context: not found');
select throws_ok($$ select public.append_summary('pgtap-ctx-1', 'hijack', 1, 3) $$, 'P0002', null,
                 'B cannot store a summary in A''s conversation');
select * from finish();
rollback;
