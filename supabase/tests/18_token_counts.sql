-- Rule: every message carries a token count, set when it is stored.
--
-- The count is the provider's where the metadata reports one (tokens as a number; a reply's
-- tokens.completion), else the estimate: a quarter token per single-byte character, about one
-- per CJK character, and for a tool result its call's arguments too; at least 1. A reported
-- count outside 0..1e9 is not a count (the estimate applies). tokens_before is the running sum
-- of the earlier messages' counts, summaries excluded, and a replayed key adds nothing. The
-- caller cannot choose either column.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(18);

select has_column('public', 'ai_conversation_messages', 'tokens', 'messages have a token count');
select has_column('public', 'ai_conversation_messages', 'tokens_before', 'messages have a running token sum');
select has_column('public', 'ai_conversation_settings', 'compaction_threshold_tokens', 'the compaction threshold is a setting');
select col_not_null('public', 'ai_conversation_messages', 'tokens', 'tokens is never null');

select is(private.estimate_tokens(repeat('abcd', 25)), 25, 'ASCII: a quarter token per character');
select is(private.estimate_tokens(repeat('你好世界', 10)), 40, 'CJK: one token per character');
select is(private.estimate_tokens('hi 你好'), 3, 'mixed text: both rules, rounded up');

select tests.authenticate_as_service();
select public.create_conversation('pgtap-tok-1') is not null as setup \gset

select is((public.append_message('pgtap-tok-1', 'user', repeat('abcd', 10))::jsonb -> 'message' ->> 'tokens')::int,
          10, 'a user message without a reported count gets the estimate');
select is((public.append_message('pgtap-tok-1', 'assistant', 'four', '{"tokens": {"prompt": 90, "completion": 33}}')::jsonb
            -> 'message' ->> 'tokens')::int, 33, 'a reply gets the completion tokens the provider reported');
select is((public.append_message('pgtap-tok-1', 'user', 'x', '{"tokens": 42}')::jsonb -> 'message' ->> 'tokens')::int,
          42, 'metadata.tokens as a number (the seed''s shape) is the count');
select is((public.append_message('pgtap-tok-1', 'user', 'abcdefgh', '{"tokens": {"completion": 900}}')::jsonb
            -> 'message' ->> 'tokens')::int, 2, 'only a reply''s completion count is taken; a user message is estimated');
select is((public.append_message('pgtap-tok-1', 'user', 'abcdefgh', '{"tokens": -5}')::jsonb
            -> 'message' ->> 'tokens')::int, 2, 'a negative reported count is not a count: the estimate applies');
select is((public.append_message('pgtap-tok-1', 'tool', '4', '{"tool": "calculator", "args": {"expression": "2+2"}}')::jsonb
            -> 'message' ->> 'tokens')::int, 7, 'a tool result counts its call''s arguments too');

select results_eq(
  $$ select seq, tokens_before from public.ai_conversation_messages
      where conversation_id = 'pgtap-tok-1' order by seq $$,
  $$ values (1::bigint, 0::bigint), (2, 10), (3, 43), (4, 85), (5, 87), (6, 89) $$,
  'tokens_before is the sum of the earlier messages'' counts'
);
select public.append_message('pgtap-tok-1', 'user', 'again', '{}', 'k1') is not null as setup \gset
select public.append_message('pgtap-tok-1', 'user', 'again', '{}', 'k1') is not null as setup \gset
select public.append_summary('pgtap-tok-1', 'a summary of it all', 1, 6, 'm', 12) is not null as setup \gset
select is(
  (select tokens_appended from public.ai_conversations where conversation_id = 'pgtap-tok-1'),
  (select max(tokens_before + tokens) from public.ai_conversation_messages
    where conversation_id = 'pgtap-tok-1' and not private.is_summary(role, metadata)),
  'the conversation''s tokens_appended is the running sum: a replay and a summary add nothing'
);
select is(
  (public.append_message('pgtap-tok-1', 'user', 'after the summary')::jsonb -> 'message' ->> 'tokens_before')::bigint,
  (select max(tokens_before + tokens) from public.ai_conversation_messages
    where conversation_id = 'pgtap-tok-1' and not private.is_summary(role, metadata) and seq < 10),
  'the message after a summary continues the sum without it'
);
select lives_ok(
  $$ insert into public.ai_conversation_messages (conversation_id, role, content, tokens, tokens_before)
     values ('pgtap-tok-1', 'user', 'abcd', 999, 999) $$,
  'a direct insert naming its own counts'
);
select results_eq(
  $$ select tokens, tokens_before < 999 from public.ai_conversation_messages
      where conversation_id = 'pgtap-tok-1' order by seq desc limit 1 $$,
  $$ values (1, true) $$,
  'the trigger sets tokens and tokens_before, whatever the insert named'
);
select * from finish();
rollback;
