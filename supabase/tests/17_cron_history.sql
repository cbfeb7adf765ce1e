-- Rule: pg_cron's run history of this store's jobs is kept 7 days.
--
-- A daily job ('prune-conversation-cron-history', 03:17) runs private.prune_cron_history(),
-- which deletes the cron.job_run_details rows of our two jobs older than 7 days (by end_time, or
-- start_time for a run that never ended) and leaves newer rows and other jobs' rows alone.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(8);

select results_eq(
  $$ select schedule, command, active, database = current_database() from cron.job where jobname = 'prune-conversation-cron-history' $$,
  $$ values ('17 3 * * *'::text, 'select private.prune_cron_history()'::text, true, true) $$,
  'the prune job runs daily at 03:17, in this database, and calls private.prune_cron_history()'
);
select is((select count(*)::integer from cron.job where jobname = 'prune-conversation-cron-history'), 1, 'exactly one prune job');

-- History rows: ours old and new, one of ours that never ended, another job's old row.
select cron.schedule('pgtap-other-job', '0 0 1 1 *', 'select 1') as other \gset
insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
select j.jobid, r.runid, 1, current_database(), 'postgres', j.command, 'succeeded', 'ok', r.t, r.e
  from (values ('cleanup-expired-conversations', 900000001, now() - interval '8 days', now() - interval '8 days'),
               ('cleanup-expired-conversations', 900000002, now() - interval '6 days', now() - interval '6 days'),
               ('prune-conversation-cron-history', 900000003, now() - interval '30 days', now() - interval '30 days'),
               ('cleanup-expired-conversations', 900000004, now() - interval '9 days', null),
               ('pgtap-other-job', 900000005, now() - interval '30 days', now() - interval '30 days'))
       r(jobname, runid, t, e)
  join cron.job j on j.jobname = r.jobname;

select is(private.prune_cron_history(), 3, 'the prune removes our three rows older than 7 days');
select is_empty($$ select 1 from cron.job_run_details where runid in (900000001, 900000003, 900000004) $$,
                'our old rows are gone (a run that never ended ages by its start)');
select isnt_empty($$ select 1 from cron.job_run_details where runid = 900000002 $$, 'our 6-day-old row is kept');
select isnt_empty($$ select 1 from cron.job_run_details where runid = 900000005 $$, 'another job''s history is left alone');

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000c1');
select throws_ok($$ select private.prune_cron_history() $$, '42501', null, 'a user may not prune the history (42501)');
select tests.authenticate_as_service();
select throws_ok($$ select private.prune_cron_history() $$, '42501', null, 'nor may the service role (42501)');
select tests.clear_authentication();

select * from finish();
rollback;
