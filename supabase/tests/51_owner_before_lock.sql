-- Rule: the owner before any lock (issue 22, item 10).
--
-- The append trigger locks and updates the conversation row only when the caller may write it:
-- a user naming another user's conversation (or the anonymous one) gets P0002 and leaves the
-- row as it was, with no new row version and no lock (its xmax, which any update or row lock
-- sets, even one rolled back, is unchanged), so the owner never waits for it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(7);

select public.create_conversation('pgtap-owner-a', '7f1e0000-0000-4000-8000-0000000000a1') is not null as setup \gset
select public.create_conversation('pgtap-owner-anon') is not null as setup \gset
select public.append_message('pgtap-owner-a', 'user', 'mine') is not null as setup \gset
create temp table before_rows on commit drop as
  select conversation_id, xmin::text as row_xmin, xmax::text as row_xmax, ctid::text as row_ctid, last_seq, updated_at
    from public.ai_conversations where conversation_id in ('pgtap-owner-a', 'pgtap-owner-anon');
grant select on before_rows to authenticated;

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000b2');
select throws_ok($$ select public.append_message('pgtap-owner-a', 'user', 'probe') $$, 'P0002', null,
                 'B appending to A''s conversation: not found');
select throws_ok($$ select public.append_message('pgtap-owner-a', 'user', 'mine', '{}', 'k') $$, 'P0002', null,
                 'with an idempotency key too');
select throws_ok($$ select public.append_messages('pgtap-owner-a', '[{"role": "user", "content": "x"}]') $$, 'P0002', null,
                 'through append_messages too');
select throws_ok($$ select public.begin_chat_turn('probe', 'pgtap-owner-a') $$, 'P0002', null,
                 'through begin_chat_turn too');
select throws_ok($$ insert into public.ai_conversation_messages (conversation_id, role, content) values ('pgtap-owner-anon', 'user', 'x') $$,
                 'P0002', null, 'a direct insert into the anonymous conversation: not found');
select tests.clear_authentication();

select results_eq(
  $$ select conversation_id::text, xmin::text, xmax::text, ctid::text, last_seq, updated_at
       from public.ai_conversations where conversation_id in ('pgtap-owner-a', 'pgtap-owner-anon') order by 1 $$,
  $$ select conversation_id::text, row_xmin, row_xmax, row_ctid, last_seq, updated_at from before_rows order by 1 $$,
  'neither row was locked nor given a new version (xmin, xmax, ctid unchanged)'
);

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000a1');
select is(public.append_message('pgtap-owner-a', 'user', 'again')::jsonb -> 'message' ->> 'seq', '2',
          'A''s own append still takes her row and the next seq');

select * from finish();
rollback;
