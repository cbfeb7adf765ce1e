-- Rule: the cron job.
--
-- pg_cron holds exactly one job named 'cleanup-expired-conversations', hourly ('0 * * * *'),
-- active, in this database, calling the cleanup. The job calls a procedure that commits after
-- each batch, so it cannot run inside this test's transaction: instead the procedure is checked
-- (it exists, may commit, and no API role may call it), and running its command here must fail
-- exactly at its first COMMIT, which shows the command resolves and starts deleting.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(14);

select has_table('cron', 'job', 'pg_cron is installed (cron.job exists)');
select results_eq(
  $$ select count(*)::integer from cron.job where jobname = 'cleanup-expired-conversations' $$,
  $$ values (1) $$,
  'exactly one job is named cleanup-expired-conversations'
);
select results_eq(
  $$ select schedule, active, database = current_database() from cron.job where jobname = 'cleanup-expired-conversations' $$,
  $$ values ('0 * * * *'::text, true, true) $$,
  'the job runs hourly, on the hour, is active, and runs in this database'
);
select results_eq(
  $$ select command from cron.job where jobname = 'cleanup-expired-conversations' $$,
  $$ values ('call private.cleanup_expired_conversations_job()'::text) $$,
  'the job calls the batched cleanup procedure'
);
select is_empty(
  $$ select jobid from cron.job
      where command ilike '%cleanup_expired_conversations%' and jobname is distinct from 'cleanup-expired-conversations' $$,
  'no other job runs the cleanup (no duplicate, unnamed schedule)'
);

-- Scheduling again under the same name (re-running the migration) updates the job, never adds one.
select is(
  cron.schedule('cleanup-expired-conversations', '0 * * * *', 'call private.cleanup_expired_conversations_job()'),
  (select jobid from cron.job where jobname = 'cleanup-expired-conversations'),
  'cron.schedule with the job''s name returns the same job id'
);
select results_eq(
  $$ select count(*)::integer from cron.job where jobname = 'cleanup-expired-conversations' $$,
  $$ values (1) $$,
  'still exactly one cleanup job after scheduling it again'
);

-- The procedure the job calls --------------------------------------------------------------------
select is_procedure('private', 'cleanup_expired_conversations_job', array['integer', 'double precision'],
                    'private.cleanup_expired_conversations_job(integer, double precision) is a procedure');
select ok(
  (select not p.prosecdef and p.proconfig is null from pg_proc p
    where p.oid = 'private.cleanup_expired_conversations_job(integer, double precision)'::regprocedure),
  'the procedure has no SET clause and is not security definer (either would forbid its COMMIT)'
);
select function_privs_are('private', 'cleanup_expired_conversations_job', array['integer', 'double precision'], 'anon', array[]::text[],
                          'anon cannot call the cleanup procedure');
select function_privs_are('private', 'cleanup_expired_conversations_job', array['integer', 'double precision'], 'authenticated', array[]::text[],
                          'authenticated cannot call the cleanup procedure');
select function_privs_are('private', 'delete_expired_batch', array['integer'], 'authenticated', array[]::text[],
                          'authenticated cannot call the batch delete behind it');

select throws_ok(
  $$ call private.cleanup_expired_conversations_job() $$,
  '2D000', null,
  'the job''s command runs a first batch and then COMMITs (not allowed inside this test''s transaction)'
);

select tests.authenticate_as('7f1e0000-0000-4000-8000-0000000000c1');
select throws_ok(
  $$ call private.cleanup_expired_conversations_job() $$,
  '42501', null,
  'a user calling the cleanup procedure is refused (42501)'
);
select tests.clear_authentication();

select * from finish();
rollback;
