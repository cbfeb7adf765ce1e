-- The extensions and the schema every later file relies on.

-- pg_cron runs the hourly cleanup, the usage roll-up and the cron history pruning (the jobs
-- themselves are rows in cron.job: scheduled by the migrations, see README.md).
create extension if not exists pg_cron with schema pg_catalog;

-- btree_gin gives uuid a GIN operator class: the message search index starts with the owner
-- (ai_conversation_messages_search_idx).
create extension if not exists btree_gin with schema extensions;

-- Objects that must not be exposed through PostgREST (triggers, counters, helpers).
create schema if not exists private;
comment on schema private is 'Internal helpers of the conversation store; never exposed by the API.';
revoke all on schema private from public;
grant usage on schema private to service_role, authenticated;

-- No default privileges: they would reach every function the host application creates later
-- (migrations run as postgres, in any schema), and its RPCs would fail until granted. Every
-- function of the store gets its privileges by name instead, in 90_function_privileges.sql;
-- 20261209410000_default_privileges_restored.sql gave back what the second release changed.
