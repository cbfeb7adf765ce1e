-- Rule: get_running_turn answers the newest turn of a conversation still queued or in progress, as
-- get_turn answers it from the start of its stream (what the AI SDK's resume reads), JSON null when
-- nothing runs, and P0002 for a conversation the caller cannot read.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(5);

select public.create_conversation('pgtap-running', '7f1e0000-0000-4000-8000-000000009101') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-000000009101');
select is(public.get_running_turn('pgtap-running')::text, 'null', 'nothing runs: null');
select (public.begin_turn('[{"role": "user", "content": "go"}]', 'pgtap-running', p_kind => 'ui')::jsonb -> 'turn' ->> 'id') as running \gset
select is((public.get_running_turn('pgtap-running') -> 'turn' ->> 'id'), :'running', 'the turn in progress');
select ok((public.get_running_turn('pgtap-running') -> 'events') is not null, 'with its stream from the start');
select public.finish_turn(:'running'::uuid, '[{"role": "assistant", "content": "done"}]') is not null as setup \gset
select is(public.get_running_turn('pgtap-running')::text, 'null', 'once finished, nothing runs');

select tests.authenticate_as('7f1e0000-0000-4000-8000-000000009102');
select throws_ok($$ select public.get_running_turn('pgtap-running') $$, 'P0002', null, 'another user cannot read it');

select * from finish();
rollback;
