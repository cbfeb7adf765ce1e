-- Rule: a running turn holds a lease that its instance renews (renew_turn_leases, one call for all
-- its turns); a turn whose lease ran out is taken for abandoned: fail_expired_turns marks it failed
-- (error turn_abandoned) and its stream ends with an error event after the events written, so no
-- reader waits forever. A live lease is left alone; only the service renews or fails leases.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(13);

select public.create_conversation('pgtap-tl-a', '7f1e0000-0000-4000-8000-0000000047a1') is not null as setup \gset
select (public.begin_turn('[{"role": "user", "content": "one"}]', 'pgtap-tl-a')::jsonb -> 'turn' ->> 'id') as live \gset
select (public.begin_turn('[{"role": "user", "content": "two"}]', 'pgtap-tl-a')::jsonb -> 'turn' ->> 'id') as dead \gset
select (public.begin_turn('[{"role": "user", "content": "three"}]', 'pgtap-tl-a')::jsonb -> 'turn' ->> 'id') as done \gset
select public.finish_turn(:'done', '[{"role": "assistant", "content": "3"}]') is not null as setup \gset

select is((select lease_expires_at from public.ai_turns where id = :'live'::uuid),
          now() + make_interval(secs => (select turn_lease_seconds from public.ai_conversation_settings)),
          'a new turn holds a lease of turn_lease_seconds');

-- The instance renews its turns' leases; the answer names the ones it must stop.
update public.ai_turns set lease_expires_at = now() + interval '1 second' where id = :'live'::uuid;
update public.ai_turns set stop_requested_at = now() where id = :'dead'::uuid;
select tests.authenticate_as_service();
select public.renew_turn_leases(array[:'live', :'dead', :'done']::uuid[])::jsonb as renewal \gset
select is((:'renewal'::jsonb ->> 'lease_seconds')::integer, (select turn_lease_seconds from public.ai_conversation_settings),
          'the renewal says how long a lease lasts');
select is((select lease_expires_at from public.ai_turns where id = :'live'::uuid),
          now() + make_interval(secs => (select turn_lease_seconds from public.ai_conversation_settings)),
          'and extends the running turns'' leases');
select is(:'renewal'::jsonb -> 'stop', jsonb_build_array(:'dead'), 'it names the turns asked to stop');
select is(:'renewal'::jsonb -> 'ended', jsonb_build_array(:'done'), 'and those that run no more');
select tests.clear_authentication();

-- The instance of `dead` stops renewing: a batch was written, then its lease runs out.
select tests.authenticate_as_service();
select public.append_turn_events(:'dead', 1, '[{"type": "delta", "text": "half"}]') as setup \gset
select tests.clear_authentication();
update public.ai_turns set lease_expires_at = now() - interval '1 second' where id = :'dead'::uuid;
select tests.authenticate_as_service();
select is(public.fail_expired_turns(:'live'), 0, 'a turn under a live lease is not failed');
select is(public.fail_expired_turns(:'dead'), 1, 'the turn whose lease ran out is');
select results_eq(
  format($$ select state, result -> 'error' ->> 'code', lease_expires_at is null, event_seq from public.ai_turns where id = %L $$, :'dead'),
  $$ values ('failed'::text, 'turn_abandoned'::text, true, 2) $$,
  'marked failed as abandoned, its lease gone, its stream ending at 2');
select results_eq(
  format($$ select seq, events from public.ai_turn_events where turn_id = %L order by seq $$, :'dead'),
  $$ values (1, '[{"type": "delta", "text": "half"}]'::jsonb), (2, '[{"type": "error"}]'::jsonb) $$,
  'its stream ends with an error event after what was written');
select is(public.fail_expired_turns(:'dead'), 0, 'failing it again finds nothing');
select is((select state from public.ai_turns where id = :'live'::uuid), 'in_progress', 'the live turn still runs');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000047a1');
select throws_ok(format($$ select public.renew_turn_leases(array[%L]::uuid[]) $$, :'live'), '42501', null,
                 'a user may not renew a lease, even its own turn''s');
select throws_ok($$ select public.fail_expired_turns() $$, '42501', null, 'nor fail turns');

select * from finish();
rollback;
