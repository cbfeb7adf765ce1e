-- Rule: erasure. erase_user_data (the service only) deletes every conversation, message and
-- rating of a user in batches, keeps conversations under legal hold, and records who asked, when
-- and how many rows (no content). Deleting the user from auth.users does the same. A user cannot
-- erase (not even itself), nor read the records; anon can do nothing.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(14);

select has_table('public', 'ai_erasures', 'the erasure records exist');
select has_table('auth', 'users', 'auth.users exists (the platform''s, or the bootstrap''s)');
select has_trigger('auth', 'users', 'ai_conversations_erase_deleted_user', 'deleting a user erases their conversations');
select is_empty($$ select 1 from information_schema.columns
                    where table_schema = 'public' and table_name = 'ai_erasures' and column_name ~ 'content|title|metadata' $$,
                'an erasure record holds no content');

-- A = ...18a1 (3 conversations, one held), B = ...18b1
select count(public.create_conversation('pgtap-erase-a' || i, '7f1e0000-0000-4000-8000-0000000018a1')) = 3 as setup from generate_series(1, 3) i \gset
select public.create_conversation('pgtap-erase-b1', '7f1e0000-0000-4000-8000-0000000018b1') is not null as setup \gset
select count(public.append_message(c, 'user', 'text of ' || c)) = 4 as setup
  from unnest(array['pgtap-erase-a1', 'pgtap-erase-a2', 'pgtap-erase-a3', 'pgtap-erase-b1']) c \gset
select public.set_message_feedback('pgtap-erase-a1', 1, 1) is not null as setup \gset
select public.update_conversation('pgtap-erase-a3', '{"legal_hold": true}') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000018a1');
select throws_ok($$ select public.erase_user_data('7f1e0000-0000-4000-8000-0000000018a1') $$, '42501', null,
                 'a user cannot erase, not even its own data');
select throws_ok($$ select public.erase_user_data('7f1e0000-0000-4000-8000-0000000018b1') $$, '42501', null,
                 'a user cannot erase another user''s data');
select throws_ok($$ select public.list_erasures() $$, '42501', null, 'a user cannot read erasure records');
select tests.authenticate_as_anon();
select throws_ok($$ select public.erase_user_data('7f1e0000-0000-4000-8000-0000000018a1') $$, '42501', null, 'anon cannot erase');

select tests.authenticate_as_service();
select is(public.erase_user_data('7f1e0000-0000-4000-8000-0000000018a1', 1)::jsonb
            - array['id', 'requested_at', 'finished_at'],
          '{"user_id": "7f1e0000-0000-4000-8000-0000000018a1", "requested_by": "service_role", "conversations_removed": 2,
            "messages_removed": 2, "feedback_removed": 0, "conversations_kept": 1, "kept_reason": "legal hold"}'::jsonb,
          'the service erases A in batches of one; the held conversation is kept and reported');
select results_eq($$ select conversation_id::text from public.ai_conversations where user_id = '7f1e0000-0000-4000-8000-0000000018a1' $$,
                  $$ values ('pgtap-erase-a3') $$, 'only the held conversation of A remains');
select is((select count(*)::integer from public.ai_message_feedback where conversation_id = 'pgtap-erase-a1'), 0, 'A''s ratings went too');
select is((select count(*)::integer from public.ai_conversations where user_id = '7f1e0000-0000-4000-8000-0000000018b1'), 1, 'B is untouched');
select is(json_array_length(public.list_erasures('7f1e0000-0000-4000-8000-0000000018a1')), 1, 'the service lists the record');

select tests.clear_authentication();
insert into auth.users (id, email) values ('7f1e0000-0000-4000-8000-0000000018b1', 'b@example.com') on conflict do nothing;
delete from auth.users where id = '7f1e0000-0000-4000-8000-0000000018b1';
select is((select count(*)::integer from public.ai_conversations where user_id = '7f1e0000-0000-4000-8000-0000000018b1'), 0,
          'deleting B from auth.users erased B''s conversations (and recorded it)');

select * from finish();
rollback;
