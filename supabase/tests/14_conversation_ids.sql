-- Rule: only the service chooses conversation ids; a user's are generated.
--
-- Ids are one namespace across owners, so the answer to "create this id" must say nothing about
-- other owners' ids. The attack: user A probes B's id, an anonymous conversation's id and a free
-- id, by RPC, through create-if-missing and by direct insert; every probe answers the same
-- 42501 with the same message. A naming its own live conversation's id gets 23505 (it knows
-- it). The service still chooses any id and gets 23505 for a taken one.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(12);

-- A = ...0a, B = ...0b
select public.create_conversation('pgtap-ids-a', '7f1e0000-0000-4000-8000-00000000000a') is not null as setup \gset
select public.create_conversation('pgtap-ids-b', '7f1e0000-0000-4000-8000-00000000000b') is not null as setup \gset
select public.create_conversation('pgtap-ids-anon') is not null as setup \gset

select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select throws_ok($$ select public.create_conversation('pgtap-ids-b') $$, '42501',
                 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 'A naming B''s id: 42501');
select throws_ok($$ select public.create_conversation('pgtap-ids-anon') $$, '42501',
                 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 'A naming an anonymous conversation''s id: the same 42501');
select throws_ok($$ select public.create_conversation('pgtap-ids-free') $$, '42501',
                 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 'A naming a free id: the same 42501 (the answers cannot tell taken from free)');
select throws_ok($$ insert into public.ai_conversations (conversation_id, user_id) values ('pgtap-ids-b', '7f1e0000-0000-4000-8000-00000000000a') $$,
                 '42501', 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 'a direct insert with B''s id answers the same 42501 (no unique violation)');
select throws_ok($$ insert into public.ai_conversations (conversation_id, user_id) values ('pgtap-ids-free', '7f1e0000-0000-4000-8000-00000000000a') $$,
                 '42501', 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 '... as does a direct insert with a free id');
select throws_ok($$ select public.begin_chat_turn('hi', 'pgtap-ids-b', p_create_if_missing => true) $$, '42501',
                 'only the service chooses conversation ids; omit conversation_id to get a generated one',
                 'create-if-missing on B''s id: the same 42501');
select throws_ok($$ select public.create_conversation('pgtap-ids-a') $$, '23505',
                 'conversation pgtap-ids-a already exists',
                 'A naming its own live conversation''s id: 23505');
select ok((select (public.create_conversation() ->> 'conversation_id') ~ '^[0-9a-f-]{36}$'),
          'A creating without an id gets a generated UUID');
select tests.clear_authentication();

select is((select count(*)::integer from public.ai_conversations where conversation_id in ('pgtap-ids-free')), 0,
          'no probe created anything');
select tests.authenticate_as_service();
select throws_ok($$ select public.create_conversation('pgtap-ids-b') $$, '23505',
                 'conversation pgtap-ids-b already exists', 'the service naming a taken id: 23505');
select lives_ok($$ select public.create_conversation('pgtap-ids-free') $$, 'the service chooses a free id');
select ok((select (public.create_conversation() ->> 'conversation_id') ~ '^[0-9a-f-]{36}$'),
          'the service without an id gets a generated UUID');

select * from finish();
rollback;
