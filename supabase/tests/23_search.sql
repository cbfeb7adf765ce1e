-- Rule: full-text search. search_messages finds messages of the caller's own live conversations
-- only (never B's, never anonymous ones, never expired ones), ranks them, marks the matches in a
-- snippet and pages by cursor; the service searches one user's or everyone's; anon nothing. The
-- configuration is a database setting; the index starts with the owner.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(15);

select has_index('public', 'ai_conversation_messages', 'ai_conversation_messages_search_idx',
                 'the search index exists');
select is((select s.search_config::text from public.ai_conversation_settings s), 'simple',
          'the text-search configuration is a setting, simple by default');
select matches(pg_get_indexdef('public.ai_conversation_messages_search_idx'::regclass),
               'gin \(user_id, to_tsvector\(''simple''::regconfig, content\)\)', 'GIN over (owner, tsvector)');

-- A = ...13a1, B = ...13b1
select public.create_conversation('pgtap-search-a1', '7f1e0000-0000-4000-8000-0000000013a1') is not null as setup \gset
select public.create_conversation('pgtap-search-a-old', '7f1e0000-0000-4000-8000-0000000013a1') is not null as setup \gset
select public.create_conversation('pgtap-search-b1', '7f1e0000-0000-4000-8000-0000000013b1') is not null as setup \gset
select public.create_conversation('pgtap-search-anon') is not null as setup \gset
select public.append_message('pgtap-search-a1', 'user', 'Where is the quokkaword kept?') is not null as setup \gset
select public.append_message('pgtap-search-a1', 'assistant', 'The quokkaword is in the quokkaword drawer.') is not null as setup \gset
select public.append_message('pgtap-search-a-old', 'user', 'old quokkaword') is not null as setup \gset
select public.append_message('pgtap-search-b1', 'user', 'B''s quokkaword secret') is not null as setup \gset
select public.append_message('pgtap-search-anon', 'user', 'anonymous quokkaword') is not null as setup \gset
update public.ai_conversations set expires_at = now() - interval '1 second' where conversation_id = 'pgtap-search-a-old';
select is((select m.user_id from public.ai_conversation_messages m where m.conversation_id = 'pgtap-search-b1'),
          '7f1e0000-0000-4000-8000-0000000013b1'::uuid, 'messages carry their conversation''s owner');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000013a1');
select results_eq(
  $$ select e ->> 'conversation_id', (e ->> 'seq')::integer from json_array_elements(public.search_messages('quokkaword') -> 'hits') e $$,
  $$ values ('pgtap-search-a1', 2), ('pgtap-search-a1', 1) $$,
  'A finds its own live messages only, best match first (not B''s, anonymous or expired ones)');
select matches(public.search_messages('quokkaword') -> 'hits' -> 0 ->> 'snippet', '<mark>quokkaword</mark>',
               'the snippet marks the match');
select is(public.search_messages('quokkaword') -> 'hits' -> 0 ->> 'title', 'Where is the quokkaword kept?',
          'each hit carries its conversation''s title');
select is(json_array_length(public.search_messages('quokkaword', p_limit => 1,
            p_cursor => public.search_messages('quokkaword', p_limit => 1) ->> 'next_cursor') -> 'hits'), 1,
          'the cursor gives the next page');
select is((public.search_messages('secret') -> 'hits')::jsonb, '[]'::jsonb, 'A searching for B''s words finds nothing');
select throws_ok($$ select public.search_messages('quokkaword', '7f1e0000-0000-4000-8000-0000000013b1') $$,
                 '42501', null, 'A cannot search B''s messages by naming B');
select throws_ok($$ select public.search_messages('   ') $$, '22023', null, 'a blank query is rejected');

select tests.authenticate_as_service();
select is(json_array_length(public.search_messages('quokkaword') -> 'hits'), 4,
          'the service searches every live conversation (anonymous ones too)');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.search_messages('quokkaword', '7f1e0000-0000-4000-8000-0000000013b1') -> 'hits') e $$,
  $$ values ('pgtap-search-b1') $$, 'the service searches one user''s');

select tests.authenticate_as_anon();
select throws_ok($$ select public.search_messages('quokkaword') $$, '42501', null, 'anon may not search');
select tests.clear_authentication();

set local enable_seqscan = off;
select matches(tests.plan($$ select m.id from public.ai_conversation_messages m
   where to_tsvector('simple'::regconfig, m.content) @@ websearch_to_tsquery('simple'::regconfig, 'quokkaword')
     and m.user_id = '7f1e0000-0000-4000-8000-0000000013a1' $$),
  'Bitmap Index Scan on ai_conversation_messages_search_idx', 'a user''s search is one scan of the search index');

select * from finish();
rollback;
