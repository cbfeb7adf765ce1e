-- Rule: a store call runs only in the security context it was sent for, and a plan used again
-- is checked as the role that runs it.
--
-- On a direct connection the Postgres transport leaves a principal's context (role, claims,
-- timeouts) in the session for that principal's next call, and sends every call gated:
-- `select public.<fn>(...) where current_user = <role> and current_setting('request.jwt.claims',
-- true) = <claims>` (app/store/postgres.py). The gate is a one-time filter, evaluated before the
-- call: in any other context the function does not run at all (no row, no side effect), even
-- where that context could run it. Calls are prepared statements reused across principals, so
-- EXECUTE must be checked at each execution, as the role running it, and plans that RLS shapes
-- must never serve another role. The contexts here are transaction-local (tests.act_as); the
-- gate reads them the same way it reads session ones.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(16);

-- Setup (as postgres) ---------------------------------------------------------------------------
-- A = 7f1e0000-0000-4000-8000-0000000035aa, B = 7f1e0000-0000-4000-8000-0000000035bb
select public.create_conversation('pgtap-gate-a', '7f1e0000-0000-4000-8000-0000000035aa') is not null as setup \gset
select public.create_conversation('pgtap-gate-b', '7f1e0000-0000-4000-8000-0000000035bb') is not null as setup \gset
select public.append_message('pgtap-gate-a', 'user', 'first of a') is not null as setup \gset
select public.append_message('pgtap-gate-b', 'user', 'first of b') is not null as setup \gset
-- The claims exactly as tests.authenticate_as() sets them.
select jsonb_strip_nulls(jsonb_build_object('role', 'authenticated', 'sub', '7f1e0000-0000-4000-8000-0000000035aa'::uuid))::text as claims_a \gset
select jsonb_strip_nulls(jsonb_build_object('role', 'authenticated', 'sub', '7f1e0000-0000-4000-8000-0000000035bb'::uuid))::text as claims_b \gset

-- The calls, as the transport renders them for A and for B.
prepare append_for_a as
  select (public.append_message(p_conversation_id => 'pgtap-gate-a', p_role => 'user', p_content => 'as a')
          -> 'message' ->> 'seq')::int
   where current_user = 'authenticated'::name and current_setting('request.jwt.claims', true) = :'claims_a';
prepare read_for_a as
  select json_array_length(public.get_messages(p_conversation_id => 'pgtap-gate-a', p_limit => 10))
   where current_user = 'authenticated'::name and current_setting('request.jwt.claims', true) = :'claims_a';
prepare read_a_for_b as
  select json_array_length(public.get_messages(p_conversation_id => 'pgtap-gate-a', p_limit => 10))
   where current_user = 'authenticated'::name and current_setting('request.jwt.claims', true) = :'claims_b';
prepare stats_for_a as
  select public.conversation_stats()::text
   where current_user = 'authenticated'::name and current_setting('request.jwt.claims', true) = :'claims_a';
-- A plain read that RLS shapes, to be planned for one role and executed by another.
prepare visible as
  select count(*)::int from public.ai_conversation_messages where conversation_id like 'pgtap-gate-%';

-- The gate --------------------------------------------------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000035aa');
select results_eq('append_for_a', $$ values (2) $$, 'in its own context the call runs (A appends seq 2)');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000035bb');
select is_empty('append_for_a', 'in another user''s context the call does not run');
select tests.authenticate_as_service();
select is_empty('append_for_a', 'in the service''s context, which could append to A''s conversation, it does not run either');
select tests.authenticate_as_anon();
select throws_ok('append_for_a', '42501', 'permission denied for function append_message',
  'as anon, who may not call it at all, EXECUTE is refused before the gate: closed either way');
select tests.clear_authentication();
select is_empty('append_for_a', 'nor as the login role');
select is(
  (select count(*)::int from public.ai_conversation_messages where conversation_id = 'pgtap-gate-a'), 2,
  'the closed gates appended nothing'
);

-- Reused plans, checked as the role that runs them --------------------------------------------
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000035aa');
select results_eq('read_for_a', $$ values (2) $$, 'A reads its conversation');
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000035bb');
select throws_ok('read_a_for_b', 'P0002', null, 'the same read for B, right after A''s, finds nothing (RLS as B)');
select tests.authenticate_as_service();
select is_empty('stats_for_a', 'the service-only call gated for A does not run as the service');
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000035aa');
select throws_ok('stats_for_a', '42501', 'permission denied for function conversation_stats',
  'the prepared call''s EXECUTE privilege is checked as the role that runs it (A), not the one that prepared it');

-- After five custom plans the plan cache may switch to a generic one, planned for A: B's execution
-- must still be planned (rewritten) for B's policies.
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000035aa');
select results_eq('visible', $$ values (2) $$, 'A sees its 2 messages, execution ' || n) from generate_series(1, 5) n;
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000035bb');
select results_eq('visible', $$ values (1) $$, 'B, executing the statement A ran five times, sees its 1 message only');

select * from finish();
rollback;
