-- Rule: the conversation ids "." and ".." are refused (issue 22, item 11): no URL can address
-- them. A check constraint (not valid: rows created before the rule keep their id), so every
-- writer meets it: create_conversation, import, fork, a direct insert; other ids with dots pass.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(7);

select has_check('public', 'ai_conversations', 'ai_conversations has check constraints');
select ok((select not convalidated from pg_constraint
            where conname = 'ai_conversations_conversation_id_not_dot_segment'),
          'the rule is NOT VALID: existing rows are not scanned, new rows and updates are checked');

select tests.authenticate_as_service();
select throws_ok($$ select public.create_conversation('.') $$, '23514', null, 'create_conversation(''.'') is refused');
select throws_ok($$ select public.create_conversation('..') $$, '23514', null, 'create_conversation(''..'') is refused');
select throws_ok($$ select public.import_conversation('{"conversation_id": ".."}') $$, '23514', null, 'an import as ".." is refused');
select tests.clear_authentication();
select throws_ok($$ insert into public.ai_conversations (conversation_id) values ('.') $$, '23514', null,
                 'a direct insert of "." is refused');
delete from public.ai_conversations where conversation_id in ('...', '.a', 'a..b');  -- rolled back
select lives_ok($$ select public.create_conversation('...'), public.create_conversation('.a'), public.create_conversation('a..b') $$,
                'other ids made of or holding dots are fine');

select * from finish();
rollback;
