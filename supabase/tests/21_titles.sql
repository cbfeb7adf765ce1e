-- Rule: titles. A conversation's title is at most 200 characters; when none is set, the first
-- user message sets it (its first non-blank line, trimmed, at most 80 characters), whoever
-- appends and however (RPC, direct insert, import, chat turn). A title already set is kept.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(11);

select has_column('public', 'ai_conversations', 'title', 'ai_conversations.title exists');
select col_type_is('public', 'ai_conversations', 'title', 'text', 'title is text');

select public.create_conversation('pgtap-title-1', '7f1e0000-0000-4000-8000-0000000011a1') is not null as setup \gset
select public.append_message('pgtap-title-1', 'system', 'You are terse.') is not null as setup \gset
select is((select title from public.ai_conversations where conversation_id = 'pgtap-title-1'), null,
          'a system message sets no title');
select public.append_message('pgtap-title-1', 'user', e'  \n\t  Plan a trip to Lisbon   \nsecond line') is not null as setup \gset
select is((select title from public.ai_conversations where conversation_id = 'pgtap-title-1'), 'Plan a trip to Lisbon',
          'the first user message sets the title: first non-blank line, trimmed');
select public.append_message('pgtap-title-1', 'user', 'Another question') is not null as setup \gset
select is((select title from public.ai_conversations where conversation_id = 'pgtap-title-1'), 'Plan a trip to Lisbon',
          'later user messages keep the title');

select public.create_conversation('pgtap-title-2') is not null as setup \gset
select public.append_message('pgtap-title-2', 'user', repeat('word ', 40)) is not null as setup \gset
select is((select char_length(title) from public.ai_conversations where conversation_id = 'pgtap-title-2'), 79,
          'a long first line is cut at 80 characters (and trimmed again: 79 here)');

select public.create_conversation('pgtap-title-3') is not null as setup \gset
select public.update_conversation('pgtap-title-3', '{"title": "Chosen"}') is not null as setup \gset
select public.append_message('pgtap-title-3', 'user', 'not a title') is not null as setup \gset
select is((select title from public.ai_conversations where conversation_id = 'pgtap-title-3'), 'Chosen',
          'a title given before the first message is kept');

select is((public.begin_chat_turn('Hello from a chat turn') ->> 'conversation_id') is not null, true, 'setup: a chat turn');
select is((select title from public.ai_conversations c where c.title = 'Hello from a chat turn' limit 1),
          'Hello from a chat turn', 'a chat turn''s user message sets the title too');

select throws_ok($$ select public.update_conversation('pgtap-title-3', jsonb_build_object('title', repeat('x', 201))) $$,
                 '23514', null, 'a title over 200 characters is rejected (23514)');
select throws_ok($$ select public.update_conversation('pgtap-title-3', '{"title": 5}') $$,
                 '22023', null, 'a title that is not a string is rejected (22023)');

select * from finish();
rollback;
