-- Rule: a retry of a turn that still runs (its key, its lease live) does not run it twice:
-- begin_turn answers running: true and leaves the turn as it is (lease, stop request, stream), so
-- the caller follows its stream. Once the lease ran out, or the turn failed, the retry runs it
-- again (running: false, a new lease); a completed one answers its reply.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(9);

select public.create_conversation('pgtap-br-a', '7f1e0000-0000-4000-8000-0000000082a1') is not null as setup \gset
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000082a1');
select public.begin_turn('[{"role": "user", "content": "slow"}]', 'pgtap-br-a', p_idempotency_key => 'k')::jsonb as first \gset
select is(:'first'::jsonb ->> 'running', 'false', 'the first attempt runs the turn itself');
select tests.authenticate_as_service();
select public.append_turn_events((:'first'::jsonb -> 'turn' ->> 'id')::uuid, 1, '[{"type": "delta", "text": "so far"}]') as setup \gset
select tests.clear_authentication();
-- It began a moment ago, on some instance, and was asked to stop.
update public.ai_turns set created_at = now() - interval '5 seconds', updated_at = now() - interval '5 seconds',
                           stop_requested_at = now() - interval '1 second', lease_expires_at = now() + interval '5 seconds'
 where id = (:'first'::jsonb -> 'turn' ->> 'id')::uuid;

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000082a1');
select public.begin_turn('[{"role": "user", "content": "slow"}]', 'pgtap-br-a', p_idempotency_key => 'k')::jsonb as retry \gset
select is(:'retry'::jsonb ->> 'running', 'true', 'a retry while it runs answers running');
select is(:'retry'::jsonb -> 'turn' ->> 'id', :'first'::jsonb -> 'turn' ->> 'id', 'the same turn');
select results_eq(
  format($$ select lease_expires_at, stop_requested_at, updated_at from public.ai_turns where id = %L $$, :'first'::jsonb -> 'turn' ->> 'id'),
  $$ values (now() + interval '5 seconds', now() - interval '1 second', now() - interval '5 seconds') $$,
  'left as it was: its lease, its stop request');
select is((select count(*)::integer from public.ai_turn_events where turn_id = (:'first'::jsonb -> 'turn' ->> 'id')::uuid), 1,
          'and its stream');
select is((select count(*)::integer from public.ai_conversation_messages where conversation_id = 'pgtap-br-a'), 1,
          'its input is stored once');

-- Its instance died: the lease ran out. The retry runs it again.
select tests.clear_authentication();
update public.ai_turns set lease_expires_at = now() - interval '1 second' where id = (:'first'::jsonb -> 'turn' ->> 'id')::uuid;
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000082a1');
select public.begin_turn('[{"role": "user", "content": "slow"}]', 'pgtap-br-a', p_idempotency_key => 'k')::jsonb as rerun \gset
select is(:'rerun'::jsonb ->> 'running', 'false', 'after the lease ran out, a retry runs it again');
select results_eq(
  format($$ select lease_expires_at, stop_requested_at from public.ai_turns where id = %L $$, :'first'::jsonb -> 'turn' ->> 'id'),
  $$ values (now() + make_interval(secs => (select turn_lease_seconds from public.ai_conversation_settings)), null::timestamptz) $$,
  'under a new lease, without the old stop request');

-- Completed: a retry answers its reply, running nothing.
select public.finish_turn((:'first'::jsonb -> 'turn' ->> 'id')::uuid, '[{"role": "assistant", "content": "done"}]') is not null as setup \gset
select is(public.begin_turn('[{"role": "user", "content": "slow"}]', 'pgtap-br-a', p_idempotency_key => 'k')::jsonb ->> 'running', 'false',
          'a completed turn''s retry is not running');

select * from finish();
rollback;
