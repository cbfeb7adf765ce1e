-- The extensions, the schema and the default privileges every later file relies on.

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

-- New functions are closed by default: nobody but their owner may execute them until
-- 90_function_privileges.sql lists them. PostgreSQL grants EXECUTE to PUBLIC by a global
-- default, which a per-schema default cannot take away (per-schema defaults only add to the
-- global ones), so the revoke is global, for the functions this role creates, and the
-- extensions schema gets PUBLIC back so extensions installed later (pgtap, say) work as usual.
-- A hosted Supabase project also grants EXECUTE in public to anon and authenticated per
-- schema: revoked here too.
alter default privileges revoke execute on functions from public;
alter default privileges in schema extensions grant execute on functions to public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;
alter default privileges in schema private revoke execute on functions from anon, authenticated;
