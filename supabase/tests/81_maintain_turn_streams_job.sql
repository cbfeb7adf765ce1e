-- Rule: the pg_cron job maintain-turn-streams runs every minute in this database and keeps turn
-- streams bounded: it fails the turns whose lease ran out (their streams end with an error) and
-- deletes the events of turns finished more than turn_events_retention_minutes ago, keeping
-- younger streams and running ones whatever their age. The API roles may not run it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(10);

select results_eq(
  $$ select schedule, command, active, database = current_database() from cron.job where jobname = 'maintain-turn-streams' $$,
  $$ values ('* * * * *'::text, 'select private.maintain_turn_streams()'::text, true, true) $$,
  'one job, every minute, active, in this database, runs the maintenance');

select public.create_conversation('pgtap-mt-a', '7f1e0000-0000-4000-8000-0000000081a1') is not null as setup \gset
select (public.begin_turn('[{"role": "user", "content": "old"}]', 'pgtap-mt-a')::jsonb -> 'turn' ->> 'id') as old \gset
select (public.begin_turn('[{"role": "user", "content": "recent"}]', 'pgtap-mt-a')::jsonb -> 'turn' ->> 'id') as recent \gset
select (public.begin_turn('[{"role": "user", "content": "long"}]', 'pgtap-mt-a')::jsonb -> 'turn' ->> 'id') as long \gset
select (public.begin_turn('[{"role": "user", "content": "orphan"}]', 'pgtap-mt-a')::jsonb -> 'turn' ->> 'id') as orphan \gset
select bool_and(public.append_turn_events(t, 1, '[{"type": "delta", "text": "x"}]')) as setup
  from unnest(array[:'old', :'recent', :'long', :'orphan']::uuid[]) t \gset
select bool_and(public.finish_turn(t, '[{"role": "assistant", "content": "x"}]') is not null) as setup
  from unnest(array[:'old', :'recent']::uuid[]) t \gset

-- `old` finished (and was written) just past the retention, `recent` just within it; `long` has
-- run longer than the retention; `orphan` lost its instance.
update public.ai_conversation_settings set turn_events_retention_minutes = 30;
update public.ai_turn_events set created_at = now() - interval '2 hours' where turn_id in (:'old', :'long');
update public.ai_turn_events set created_at = now() - interval '29 minutes' where turn_id = :'recent';
update public.ai_turns set finished_at = now() - interval '31 minutes' where id = :'old';
update public.ai_turns set finished_at = now() - interval '29 minutes' where id = :'recent';
update public.ai_turns set lease_expires_at = now() - interval '1 second' where id = :'orphan';

select lives_ok($$ select private.maintain_turn_streams() $$, 'the job''s command runs');
select is_empty(format($$ select 1 from public.ai_turn_events where turn_id = %L $$, :'old'),
                'a stream finished past the retention is deleted');
select is((select count(*)::integer from public.ai_turn_events where turn_id = :'recent'::uuid), 2,
          'one finished within it is kept, its end included');
select is((select count(*)::integer from public.ai_turn_events where turn_id = :'long'::uuid), 1,
          'a running turn''s stream is kept, however old');
select is((select state || ':' || (result -> 'error' ->> 'code') from public.ai_turns where id = :'orphan'::uuid),
          'failed:turn_abandoned', 'a turn whose lease ran out is failed');
select is((select events from public.ai_turn_events where turn_id = :'orphan'::uuid order by seq desc limit 1),
          '[{"type": "error"}]'::jsonb, 'and its stream ends with an error');
select is((select state from public.ai_turns where id = :'old'::uuid), 'completed', 'the pruned turn itself stays, with its reply');

select tests.authenticate_as_service();
select throws_ok($$ select private.maintain_turn_streams() $$, '42501', null, 'the service may not run the job''s function');
select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000081a1');
select throws_ok($$ select private.maintain_turn_streams() $$, '42501', null, 'nor may a user');

select * from finish();
rollback;
