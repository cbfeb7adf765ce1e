-- Rule: usage. get_usage sums messages and tokens (metadata.tokens) over UTC days, per day and/or
-- model, with a cost where ai_model_prices has the model: the ledger (ai_usage_daily, rolled up
-- every minute) plus the messages since, each message counted once, fork copies never. Users
-- read their own only; the service one user's or everyone's; anon nothing. Views for the
-- dashboard.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(14);

select has_table('public', 'ai_model_prices', 'the price table exists');
insert into public.ai_model_prices (model, prompt_per_million, completion_per_million) values ('pgtap-usage-m', 2, 4);
select public.create_conversation('pgtap-usage-a1', '7f1e0000-0000-4000-8000-0000000016a1') is not null as setup \gset
select public.create_conversation('pgtap-usage-b1', '7f1e0000-0000-4000-8000-0000000016b1') is not null as setup \gset
select public.append_message('pgtap-usage-a1', 'user', 'q') is not null as setup \gset
select public.append_message('pgtap-usage-a1', 'assistant', 'a', '{"model": "pgtap-usage-m", "tokens": {"prompt": 1000000, "completion": 500000}}') is not null as setup \gset
select public.append_message('pgtap-usage-a1', 'assistant', 'b', '{"model": "other", "tokens": {"prompt": "many"}}') is not null as setup \gset
select public.append_message('pgtap-usage-b1', 'assistant', 'b', '{"model": "pgtap-usage-m", "tokens": {"prompt": 7, "completion": 7}}') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000016a1');
select is((public.get_usage() -> 'rows' -> 0)::jsonb, '{"messages":3,"prompt_tokens":1000000,"completion_tokens":500000,"cost":4.000000}'::jsonb,
          'A''s total: messages, tokens (non-numbers count 0) and cost') ;
select results_eq(
  $$ select r ->> 'model', (r ->> 'messages')::integer, r ->> 'cost' from json_array_elements(public.get_usage(p_group_by => array['model']) -> 'rows') r $$,
  $$ values ('', 1, null), ('other', 1, null), ('pgtap-usage-m', 1, '4.000000') $$,
  'per model; no price, no cost');
select is(json_array_length(public.get_usage(p_from => current_date + 2) -> 'rows'), 1, 'an empty period is one zero row');
select throws_ok($$ select public.get_usage('7f1e0000-0000-4000-8000-0000000016b1') $$, '42501', null,
                 'A cannot read B''s usage');
select throws_ok($$ select public.get_usage(p_group_by => array['week']) $$, '22023', null, 'only day and model group');

select tests.authenticate_as_service();
select is((public.get_usage('7f1e0000-0000-4000-8000-0000000016b1') -> 'rows' -> 0 ->> 'prompt_tokens'), '7',
          'the service reads one user''s usage');
select tests.authenticate_as_anon();
select throws_ok($$ select public.get_usage() $$, '42501', null, 'anon may not read usage');
select tests.clear_authentication();

-- the ledger: a roll-up moves messages older than a minute from the tail into ai_usage_daily
update private.usage_rollup set rolled_up_to = now() - interval '10 minutes';
insert into public.ai_conversation_messages (conversation_id, role, content, metadata, created_at)
values ('pgtap-usage-a1', 'assistant', 'older', '{"model": "pgtap-usage-m", "tokens": {"prompt": 5, "completion": 5}}', now() - interval '5 minutes');
select is((public.get_usage('7f1e0000-0000-4000-8000-0000000016a1') -> 'rows' -> 0 ->> 'messages'), '4',
          'a message not rolled up yet is counted from the messages');
select ok(private.roll_up_usage() >= 1, 'the roll-up writes ledger rows');
select is((select messages::integer from public.ai_usage_by_user where user_id = '7f1e0000-0000-4000-8000-0000000016a1'), 1,
          'the per-user view reads the ledger');
select is((select sum(messages)::integer from public.ai_usage_daily where user_id = '7f1e0000-0000-4000-8000-0000000016a1'), 1,
          'the ledger holds the rolled-up message (the others are under a minute old)');
select is((public.get_usage('7f1e0000-0000-4000-8000-0000000016a1') -> 'rows' -> 0 ->> 'messages'), '4',
          'after the roll-up it is counted once, from the ledger');
select public.fork_conversation('pgtap-usage-a1', 2) is not null as setup \gset
select is((public.get_usage('7f1e0000-0000-4000-8000-0000000016a1') -> 'rows' -> 0 ->> 'messages'), '4',
          'fork copies are not usage');

select * from finish();
rollback;
