-- Rule: continuing a previous response goes on in its conversation when that response is the
-- latest thing there (summaries aside), and otherwise in a fork at its last message: what came
-- after it is never rewritten. The choice is begin_turn's, under the conversation's row lock.
-- An unknown previous response is P0002 with detail reason previous_response_not_found.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(7);

select public.create_conversation('pgtap-lf-a', '7f1e0000-0000-4000-8000-0000000043a1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000043a1');
select public.begin_turn('[{"role": "user", "content": "first"}]', 'pgtap-lf-a', p_kind => 'response',
  p_token_budget => 1000, p_turn_id => '00000000-0000-4000-8000-0000000043a1') is not null as setup \gset
select public.finish_turn('00000000-0000-4000-8000-0000000043a1', '[{"role": "assistant", "content": "one"}]') is not null as setup \gset

select is(public.begin_turn('[{"role": "user", "content": "second"}]', p_previous_response_id => 'resp_000000000000400080000000000043a1',
                            p_kind => 'response', p_token_budget => 1000)::jsonb ->> 'conversation_id',
          'pgtap-lf-a', 'the latest response is continued in its conversation');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-lf-a'), 3,
          'which holds the new input after it');

select public.begin_turn('[{"role": "user", "content": "instead"}]', p_previous_response_id => 'resp_000000000000400080000000000043a1',
                         p_kind => 'response', p_token_budget => 1000)::jsonb as forked \gset
select isnt(:'forked'::jsonb ->> 'conversation_id', 'pgtap-lf-a', 'one no longer the latest is continued in a fork');
select is(:'forked'::jsonb -> 'forked_from', '{"conversation_id": "pgtap-lf-a", "seq": 2}'::jsonb,
          'forked at the response''s last message');
select is((select array_agg(content order by seq) from public.ai_conversation_messages
            where conversation_id = :'forked'::jsonb ->> 'conversation_id'),
          array['first', 'one', 'instead'], 'the fork holds the history up to it, then the new input');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-lf-a'), 3,
          'and the source is left as it was');
select throws_ok($$ select public.begin_turn('[{"role": "user", "content": "x"}]', p_previous_response_id => 'resp_00000000000040008000000000000000',
                                             p_kind => 'response', p_token_budget => 1000) $$,
  'P0002', null, 'an unknown previous response is not found');

select * from finish();
rollback;
