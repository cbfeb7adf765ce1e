-- Rule: the export, read in keyset pages.
--
-- export_conversation_page(id, after_seq, limit, max_bytes) returns the export fields of the
-- conversation, then up to `limit` messages after `after_seq` cut at about `max_bytes` (at least
-- one), and next_after_seq (null after the last page). Concatenated, the pages are exactly
-- export_conversation(): the same fields, the same messages in the same order. Users page only
-- their own conversations (P0002 otherwise, like every read); bad limits are 22023.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(11);

select public.create_conversation('pgtap-xp-1', '7f1e0000-0000-4000-8000-0000000000e1', '{"title": "paged"}') is not null as setup \gset
select count(public.append_message('pgtap-xp-1', case when i % 2 = 0 then 'assistant' else 'user' end,
                                   'message ' || i || repeat('.', 100), jsonb_build_object('n', i)))
       is not null as setup
  from generate_series(1, 7) i \gset

-- Page through with 3 messages a page.
create temp table pages on commit drop as
with recursive p(n, page) as (
  select 1, public.export_conversation_page('pgtap-xp-1', 0, 3)::jsonb
  union all
  select n + 1, public.export_conversation_page('pgtap-xp-1', (page ->> 'next_after_seq')::bigint, 3)::jsonb
    from p where page ->> 'next_after_seq' is not null
)
select n, page from p;

select results_eq($$ select n, jsonb_array_length(page -> 'messages'), (page ->> 'next_after_seq')::bigint from pages order by n $$,
                  $$ values (1, 3, 3::bigint), (2, 3, 6::bigint), (3, 1, null::bigint) $$,
                  'three pages of 3, 3 and 1 messages, each naming where the next starts');
select is((select page -> 'conversation' from pages where n = 1),
          (select public.export_conversation('pgtap-xp-1')::jsonb - 'messages'),
          'the page''s conversation is the export''s fields');
select is((select jsonb_agg(m order by n, o) from pages, jsonb_array_elements(page -> 'messages') with ordinality x(m, o)),
          (select public.export_conversation('pgtap-xp-1')::jsonb -> 'messages'),
          'the pages'' messages, concatenated, are the export''s messages');
select is((select page::text from pages where n = 1) ~ e'\n', false,
          'a page''s JSON holds no newline (exports are written as JSON lines)');

-- A byte budget cuts a page early but always returns at least one message.
select is(jsonb_array_length(public.export_conversation_page('pgtap-xp-1', 0, 100, 200)::jsonb -> 'messages'), 2,
          'a 200-byte budget takes the messages that start within it (two of 117 bytes)');
select is(jsonb_array_length(public.export_conversation_page('pgtap-xp-1', 0, 100, 1)::jsonb -> 'messages'), 1,
          'a budget smaller than one message still returns that message');
select is(public.export_conversation_page('pgtap-xp-1', 7)::jsonb -> 'messages', '[]'::jsonb,
          'after the last seq: no messages');

select throws_ok($$ select public.export_conversation_page('pgtap-xp-1', 0, 0) $$, '22023', null, 'limit 0 is refused (22023)');
select throws_ok($$ select public.export_conversation_page('pgtap-xp-missing') $$, 'P0002', null, 'an unknown conversation is P0002');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000e2');
select throws_ok($$ select public.export_conversation_page('pgtap-xp-1') $$, 'P0002', null,
                 'another user cannot page the export (P0002)');
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000e1');
select is(jsonb_array_length(public.export_conversation_page('pgtap-xp-1')::jsonb -> 'messages'), 7,
          'the owner pages its own conversation');
select tests.clear_authentication();

select * from finish();
rollback;
