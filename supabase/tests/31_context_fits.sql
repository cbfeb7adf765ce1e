-- Rule: an untruncated context. context_fits says whether the whole history of a conversation
-- (up to a seq, for a fork) plus the input about to be stored fits a token budget and a message
-- cap with nothing left out, counted as the context window counts (a summary standing for older
-- messages is something left out). It stores nothing; a user asks it of its own conversations only.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(15);

-- Setup: exact counts through metadata.tokens (70 tokens in 7 messages). A = ...19a, B = ...19b.
select public.create_conversation('pgtap-fits-1', '7f1e0000-0000-4000-8000-00000000019a') is not null as setup \gset
select count(public.append_message('pgtap-fits-1', r, c, jsonb_build_object('tokens', t) || m)) = 7 as setup
  from (values (1, 'user', 'hello', 10, '{}'::jsonb),
               (2, 'assistant', 'hi there', 20, '{}'),
               (3, 'user', '2+2?', 10, '{}'),
               (4, 'tool', '4', 5, '{"tool": "calculator", "args": {"expression": "2+2"}, "round": 1}'),
               (5, 'tool', '4', 5, '{"tool": "calculator", "args": {"expression": "2+2"}, "round": 1}'),
               (6, 'assistant', '4', 10, '{}'),
               (7, 'user', 'thanks', 10, '{}')) v(n, r, c, t, m) \gset
select public.create_conversation('pgtap-fits-2', '7f1e0000-0000-4000-8000-00000000019a') is not null as setup \gset
select count(public.append_message('pgtap-fits-2', r, 'x', '{"tokens": 1}')) = 3 as setup
  from (values ('user'), ('assistant'), ('user')) v(r) \gset
select public.append_summary('pgtap-fits-2', 'earlier: x', 1, 2, 'm', 1) is not null as setup \gset
create function pg_temp.input(p_tokens integer) returns jsonb language sql as $$
  select jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'next', 'metadata', jsonb_build_object('tokens', p_tokens)))
$$;
grant execute on function pg_temp.input(integer) to authenticated;

select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000019a');

select is(public.context_fits('pgtap-fits-1', 100, 10, null, pg_temp.input(10))::jsonb - 'context',
          '{"fits": true, "tokens": 80, "token_budget": 100, "messages": 8, "limit": 10, "left_out": null}'::jsonb,
          'the whole history and the input: 70 + 10 tokens, 7 + 1 messages');
select is((public.context_fits('pgtap-fits-1', 80, 10, null, pg_temp.input(10)) ->> 'fits')::boolean, true,
          'exactly the budget fits');
select is((public.context_fits('pgtap-fits-1', 79, 10, null, pg_temp.input(10)) ->> 'fits')::boolean, false,
          'one token over does not');
select ok(public.context_fits('pgtap-fits-1', 79, 10, null, pg_temp.input(10)) ->> 'left_out' is not null,
          'and says what would be left out');
select is((public.context_fits('pgtap-fits-1', 1000, 7, null, pg_temp.input(1)) ->> 'fits')::boolean, false,
          'eight messages do not fit a cap of seven');
select is((public.context_fits('pgtap-fits-1', 1000, 8, null, pg_temp.input(1)) ->> 'fits')::boolean, true,
          'they fit a cap of eight');
select is(public.context_fits('pgtap-fits-1', 40, 10, 2, pg_temp.input(10))::jsonb - array['left_out', 'context'],
          '{"fits": true, "tokens": 40, "token_budget": 40, "messages": 3, "limit": 10}'::jsonb,
          'up to seq 2 (a fork''s history): 30 + 10 tokens');
select is(array(select (e ->> 'seq')::bigint
                  from json_array_elements(public.context_fits('pgtap-fits-1', 30, 10, null, pg_temp.input(10)) -> 'context' -> 'messages') e),
          array[6, 7]::bigint[], 'the window of the history for what the input leaves (20 of 30 tokens)');
select is((public.context_fits('pgtap-fits-1', 15, 10, null, pg_temp.input(15)) ->> 'fits')::boolean, false,
          'an input that fills the budget alone leaves no room for a history');
select is((public.context_fits(null, 10, 10, null, pg_temp.input(10)) ->> 'fits')::boolean, true,
          'without a conversation only the input counts');
select is((public.context_fits(null, 9, 10, null, pg_temp.input(10)) ->> 'fits')::boolean, false,
          'and must fit alone');
select is((public.context_fits('pgtap-fits-2', 1000) ->> 'fits')::boolean, false,
          'a summary standing for older messages is something left out');
select is((public.context_fits('pgtap-fits-2', 1000, 10, 2) ->> 'fits')::boolean, true,
          'before the summary was written, the same history fits');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-fits-1'), 7,
          'nothing was stored');

select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000019b');
select throws_ok($$ select public.context_fits('pgtap-fits-1', 100) $$, 'P0002', null,
                 'B cannot ask it of A''s conversation (P0002)');

select * from finish();
rollback;
