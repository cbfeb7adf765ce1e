-- Rule: organising conversations. update_conversation writes only the fields given (title,
-- metadata replace or merge, archived, pinned, tags with at most 20 of at most 50 characters);
-- users change only their own live conversations, the service any; legal_hold is the service's.
-- list_conversations hides archived ones unless asked, filters by pinned, tags (all) and
-- metadata (containment), orders pinned first, then most recently updated, keyset-paginated, and
-- previews each conversation's last message. Every filter is an index scan.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(25);

-- A = ...12a1, B = ...12b1
select public.create_conversation('pgtap-org-a1', '7f1e0000-0000-4000-8000-0000000012a1', '{"k": 1, "drop": true}') is not null as setup \gset
select public.create_conversation('pgtap-org-a2', '7f1e0000-0000-4000-8000-0000000012a1') is not null as setup \gset
select public.create_conversation('pgtap-org-a3', '7f1e0000-0000-4000-8000-0000000012a1') is not null as setup \gset
select public.create_conversation('pgtap-org-b1', '7f1e0000-0000-4000-8000-0000000012b1') is not null as setup \gset
select count(public.append_message(c, 'user', 'first of ' || c)) > 0 as setup
  from unnest(array['pgtap-org-a1', 'pgtap-org-a2', 'pgtap-org-a3', 'pgtap-org-b1']) c \gset
select public.append_message('pgtap-org-a1', 'assistant', repeat('y', 300)) is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000012a1');
select is(public.update_conversation('pgtap-org-a1', '{"pinned": true, "tags": ["red", "blue", "red"]}')::jsonb -> 'tags',
          '["red", "blue"]'::jsonb, 'A tags its own conversation; duplicates collapse');
select is(public.update_conversation('pgtap-org-a1', '{"metadata_patch": {"drop": null, "new": 2}}')::jsonb -> 'metadata',
          '{"k": 1, "new": 2}'::jsonb, 'metadata_patch merges: keys replaced or added, null removes');
select is(public.update_conversation('pgtap-org-a1', '{"metadata": {"only": 1}}')::jsonb -> 'metadata',
          '{"only": 1}'::jsonb, 'metadata replaces');
select is(public.update_conversation('pgtap-org-a2', '{"archived": true, "tags": ["red"]}')::jsonb ->> 'archived',
          'true', 'A archives its own conversation');
select is(public.update_conversation('pgtap-org-a3', '{}')::jsonb ->> 'conversation_id', 'pgtap-org-a3',
          'no change is a read');
select throws_ok($$ select public.update_conversation('pgtap-org-a1', '{"colour": "red"}') $$, '22023', null,
                 'an unknown field is rejected (22023)');
select throws_ok($$ select public.update_conversation('pgtap-org-a1', jsonb_build_object('tags', (select jsonb_agg(i::text) from generate_series(1, 21) i))) $$,
                 '22023', null, 'more than 20 tags are rejected');
select throws_ok($$ select public.update_conversation('pgtap-org-a1', jsonb_build_object('tags', jsonb_build_array(repeat('t', 51)))) $$,
                 '22023', null, 'a tag over 50 characters is rejected');
select throws_ok($$ update public.ai_conversations set tags = array[''] where conversation_id = 'pgtap-org-a1' $$,
                 '23514', null, 'the table''s check holds for direct updates too (empty tag)');

-- attacks
select throws_ok($$ select public.update_conversation('pgtap-org-b1', '{"title": "mine"}') $$, 'P0002', null,
                 'A cannot change B''s conversation (P0002, as if missing)');
select throws_ok($$ select public.update_conversation('pgtap-org-a1', '{"legal_hold": true}') $$, '42501', null,
                 'A cannot set a legal hold (42501)');
select throws_ok($$ update public.ai_conversations set legal_hold = true where conversation_id = 'pgtap-org-a1' $$,
                 '42501', null, 'A cannot set legal_hold directly either (no column privilege)');
select results_eq($$ with u as (update public.ai_conversations set pinned = true where conversation_id = 'pgtap-org-b1' returning 1)
                     select count(*)::integer from u $$, $$ values (0) $$, 'A pinning B''s conversation directly changes 0 rows');

-- listing
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations() -> 'conversations') e $$,
  $$ values ('pgtap-org-a1'), ('pgtap-org-a3') $$, 'pinned first, archived hidden, only A''s');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations(p_archived => true) -> 'conversations') e $$,
  $$ values ('pgtap-org-a2') $$, 'archived => true lists only the archived');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations(p_archived => null, p_tags => array['red']) -> 'conversations') e $$,
  $$ values ('pgtap-org-a1'), ('pgtap-org-a2') $$, 'archived => null lists both; tag filter');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations(p_tags => array['red', 'blue']) -> 'conversations') e $$,
  $$ values ('pgtap-org-a1') $$, 'every tag given must match');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations(p_metadata => '{"only": 1}') -> 'conversations') e $$,
  $$ values ('pgtap-org-a1') $$, 'metadata containment');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations(p_pinned => false) -> 'conversations') e $$,
  $$ values ('pgtap-org-a3') $$, 'pinned => false');
select is((public.list_conversations(p_limit => 1) -> 'conversations' -> 0 -> 'last_message' ->> 'content'), repeat('y', 200),
          'last_message previews the newest message, cut at 200 characters');
select results_eq(
  $$ select e ->> 'conversation_id' from json_array_elements(public.list_conversations(p_limit => 1,
       p_cursor => public.list_conversations(p_limit => 1) ->> 'next_cursor') -> 'conversations') e $$,
  $$ values ('pgtap-org-a3') $$, 'the cursor continues after the pinned one');
select throws_ok($$ select public.list_conversations('7f1e0000-0000-4000-8000-0000000012b1') $$, '42501', null,
                 'A cannot list B''s conversations');

select tests.authenticate_as_service();
select is(public.update_conversation('pgtap-org-b1', '{"archived": true}')::jsonb ->> 'archived', 'true',
          'the service changes anyone''s conversation');
select tests.authenticate_as_anon();
select throws_ok($$ select public.update_conversation('pgtap-org-a1', '{"pinned": false}') $$, '42501', null,
                 'anon may not call update_conversation');
select tests.clear_authentication();

-- plans: the list index serves a user's listing in its order (the alternatives switched off, as
-- a tiny table's statistics would pick them; the bench EXPLAINs at 1M rows show it unforced)
set local enable_seqscan = off;
set local enable_bitmapscan = off;
set local enable_sort = off;
select matches(tests.plan($$ select * from public.ai_conversations c
   where c.user_id = '7f1e0000-0000-4000-8000-0000000012a1' and c.archived = false and c.expires_at > now()
   order by c.pinned desc, c.updated_at desc, c.id desc limit 11 $$),
  'Index Scan Backward using ai_conversations_(user_)?list_idx',
  'a user''s listing walks a list index in the listing''s order (at 1M rows the planner picks the user''s one: see bench O)');
select * from finish();
rollback;
