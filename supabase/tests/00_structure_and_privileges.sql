-- Rule: structure and privileges.
--
-- The tables, columns, keys and indexes of the data contract exist; RLS is enabled on every
-- table; the policies, triggers, functions and dashboard views are the expected ones; every
-- function is `security invoker` with `search_path = ''` or a SQL-standard body (the only `security definer` ones are
-- private: the triggers that write counters or broadcast changes, and the expired-id purge); anon may execute nothing and read
-- nothing; authenticated may not run the admin functions nor write the columns the rules own;
-- the messages table is published to Supabase Realtime.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(114);

-- Tables --------------------------------------------------------------------------------------
select has_table('public', 'ai_conversations', 'table public.ai_conversations exists');
select has_table('public', 'ai_conversation_messages', 'table public.ai_conversation_messages exists');
select has_table('public', 'ai_conversation_settings', 'table public.ai_conversation_settings exists');
select has_table('private', 'conversation_totals', 'table private.conversation_totals exists');

-- Columns and types (the seed's columns, plus what the rules add) ------------------------------
select col_type_is('public', 'ai_conversations', 'id', 'uuid', 'ai_conversations.id is uuid');
select col_type_is('public', 'ai_conversations', 'conversation_id', 'character varying(255)', 'ai_conversations.conversation_id is varchar(255)');
select col_type_is('public', 'ai_conversations', 'user_id', 'uuid', 'ai_conversations.user_id is uuid');
select col_type_is('public', 'ai_conversations', 'metadata', 'jsonb', 'ai_conversations.metadata is jsonb');
select col_type_is('public', 'ai_conversations', 'created_at', 'timestamp with time zone', 'ai_conversations.created_at is timestamptz');
select col_type_is('public', 'ai_conversations', 'updated_at', 'timestamp with time zone', 'ai_conversations.updated_at is timestamptz');
select col_type_is('public', 'ai_conversations', 'expires_at', 'timestamp with time zone', 'ai_conversations.expires_at is timestamptz');
select col_type_is('public', 'ai_conversations', 'ttl_hours', 'integer', 'ai_conversations.ttl_hours is integer');
select col_type_is('public', 'ai_conversations', 'message_count', 'integer', 'ai_conversations.message_count is integer');
select col_type_is('public', 'ai_conversations', 'rated', 'boolean', 'ai_conversations.rated is boolean (set by the first rating)');
select col_type_is('public', 'ai_conversations', 'last_seq', 'bigint', 'ai_conversations.last_seq is bigint');

select col_type_is('public', 'ai_conversation_messages', 'id', 'uuid', 'ai_conversation_messages.id is uuid');
select col_type_is('public', 'ai_conversation_messages', 'conversation_id', 'character varying(255)', 'ai_conversation_messages.conversation_id is varchar(255)');
select col_type_is('public', 'ai_conversation_messages', 'seq', 'bigint', 'ai_conversation_messages.seq is bigint');
select col_type_is('public', 'ai_conversation_messages', 'role', 'text', 'ai_conversation_messages.role is text');
select col_type_is('public', 'ai_conversation_messages', 'content', 'text', 'ai_conversation_messages.content is text');
select col_type_is('public', 'ai_conversation_messages', 'metadata', 'jsonb', 'ai_conversation_messages.metadata is jsonb');
select col_type_is('public', 'ai_conversation_messages', 'idempotency_key', 'character varying(255)', 'ai_conversation_messages.idempotency_key is varchar(255)');
select col_type_is('public', 'ai_conversation_messages', 'created_at', 'timestamp with time zone', 'ai_conversation_messages.created_at is timestamptz');

select results_eq(
  $$ select format('%s.%s', a.attrelid::regclass, a.attname) collate "default"
       from pg_attribute a
      where a.attrelid in ('public.ai_conversations'::regclass, 'public.ai_conversation_messages'::regclass)
        and a.attnum > 0 and not a.attisdropped and a.attnotnull
        and a.attname in ('conversation_id', 'metadata', 'created_at', 'updated_at', 'expires_at',
                          'ttl_hours', 'seq', 'role', 'content')
      order by 1 $$,
  $$ values ('ai_conversation_messages.content'), ('ai_conversation_messages.conversation_id'),
            ('ai_conversation_messages.created_at'), ('ai_conversation_messages.metadata'),
            ('ai_conversation_messages.role'), ('ai_conversation_messages.seq'),
            ('ai_conversations.conversation_id'), ('ai_conversations.created_at'),
            ('ai_conversations.expires_at'), ('ai_conversations.metadata'),
            ('ai_conversations.ttl_hours'), ('ai_conversations.updated_at') $$,
  'the columns the rules rely on are not null'
);

-- Keys ------------------------------------------------------------------------------------------
select col_is_pk('public', 'ai_conversations', 'id', 'ai_conversations.id is the primary key');
select col_is_pk('public', 'ai_conversation_messages', 'id', 'ai_conversation_messages.id is the primary key');
select col_is_unique('public', 'ai_conversations', 'conversation_id', 'ai_conversations.conversation_id is unique');
select fk_ok('public', 'ai_conversation_messages', 'conversation_id', 'public', 'ai_conversations', 'conversation_id',
             'messages reference their conversation');
select results_eq(
  $$ select confdeltype::text from pg_constraint
      where conrelid = 'public.ai_conversation_messages'::regclass and contype = 'f' $$,
  $$ values ('c') $$,
  'the messages foreign key is on delete cascade'
);

-- Indexes ---------------------------------------------------------------------------------------
select has_index('public', 'ai_conversation_messages', 'ai_conversation_messages_seq_unique',
                 array['conversation_id', 'seq'], 'messages have an index on (conversation_id, seq)');
select index_is_unique('public', 'ai_conversation_messages', 'ai_conversation_messages_seq_unique',
                       'the (conversation_id, seq) index is unique');
select has_index('public', 'ai_conversation_messages', 'ai_conversation_messages_idempotency_unique',
                 array['conversation_id', 'idempotency_key'], 'messages have an index on (conversation_id, idempotency_key)');
select index_is_unique('public', 'ai_conversation_messages', 'ai_conversation_messages_idempotency_unique',
                       'the idempotency key is unique per conversation');
select ok(
  exists (select 1 from pg_index i
           where i.indrelid = 'public.ai_conversation_messages'::regclass
             and i.indkey[0] = (select attnum from pg_attribute
                                 where attrelid = 'public.ai_conversation_messages'::regclass
                                   and attname = 'conversation_id')),
  'the messages foreign key column leads an index (cascade and cleanup need it)'
);
select has_index('public', 'ai_conversations', 'ai_conversations_expires_at_idx', array['expires_at'],
                 'conversations have an index on expires_at (cleanup, statistics)');
select has_index('public', 'ai_conversations', 'ai_conversations_user_list_idx', array['user_id', 'archived', 'pinned', 'updated_at', 'id'],
                 'conversations have an index on (user_id, archived, pinned, updated_at, id) (listing a user''s conversations)');
select has_index('public', 'ai_conversations', 'ai_conversations_list_idx', array['archived', 'pinned', 'updated_at', 'id'],
                 'conversations have an index on (archived, pinned, updated_at, id) (listing all conversations)');

-- Triggers --------------------------------------------------------------------------------------
-- (has_trigger, not triggers_are: other features, such as the local realtime feed, add their own)
select has_trigger('public', 'ai_conversations', 'before_conversation_insert', 'conversations: defaults and limits on insert');
select has_trigger('public', 'ai_conversations', 'touch_conversation', 'conversations: updated_at and the expiry bound on update');
select has_trigger('public', 'ai_conversations', 'after_conversations_insert', 'conversations: totals on insert');
select has_trigger('public', 'ai_conversations', 'after_conversations_delete', 'conversations: totals on delete');
select has_trigger('public', 'ai_conversations', 'recount_after_truncate_conversations', 'conversations: totals after truncate');
select has_trigger('public', 'ai_conversation_messages', 'before_message_insert', 'messages: ordered append (seq, sliding expiry, limits, idempotency)');
select has_trigger('public', 'ai_conversation_messages', 'forbid_message_update', 'messages: append-only');
select has_trigger('public', 'ai_conversation_messages', 'after_messages_delete', 'messages: counters on delete');
select has_trigger('public', 'ai_conversation_messages', 'recount_after_truncate_messages', 'messages: totals after truncate');
select has_trigger('public', 'ai_conversation_settings', 'touch_settings', 'settings keep updated_at current');

-- Row Level Security ---------------------------------------------------------------------------
select ok((select relrowsecurity from pg_class where oid = 'public.ai_conversations'::regclass),
          'RLS is enabled on ai_conversations');
select ok((select relrowsecurity from pg_class where oid = 'public.ai_conversation_messages'::regclass),
          'RLS is enabled on ai_conversation_messages');
select ok((select relrowsecurity from pg_class where oid = 'public.ai_conversation_settings'::regclass),
          'RLS is enabled on ai_conversation_settings');
select ok((select relrowsecurity from pg_class where oid = 'private.conversation_totals'::regclass),
          'RLS is enabled on private.conversation_totals');

select policies_are('public', 'ai_conversations', array[
  'service_role selects conversations', 'service_role inserts conversations',
  'service_role updates conversations', 'service_role deletes conversations',
  'authenticated selects own live conversations', 'authenticated inserts own conversations',
  'authenticated updates own live conversations', 'authenticated deletes own live conversations'
], 'ai_conversations has exactly the expected policies');
select policies_are('public', 'ai_conversation_messages', array[
  'service_role selects messages', 'service_role inserts messages', 'service_role deletes messages',
  'authenticated selects messages of own live conversations',
  'authenticated inserts messages into own live conversations',
  'authenticated deletes messages of own live conversations'
], 'ai_conversation_messages has exactly the expected policies (no update policy: append-only)');
select policies_are('public', 'ai_conversation_settings', array[
  'service_role reads settings', 'service_role updates settings', 'authenticated reads settings'
], 'ai_conversation_settings has exactly the expected policies');
select policies_are('private', 'conversation_totals', array['service_role reads totals'],
  'private.conversation_totals has exactly the expected policies');

select results_eq(
  $$ select tablename::text collate "default", cmd::text, roles::text[] collate "default"
       from pg_policies
      where (schemaname, tablename) in (('public', 'ai_conversations'), ('public', 'ai_conversation_messages'),
                                        ('public', 'ai_conversation_settings'), ('private', 'conversation_totals'))
      order by 1, 2, 3 $$,
  $$ values
       ('ai_conversation_messages', 'DELETE', array['authenticated']),
       ('ai_conversation_messages', 'DELETE', array['service_role']),
       ('ai_conversation_messages', 'INSERT', array['authenticated']),
       ('ai_conversation_messages', 'INSERT', array['service_role']),
       ('ai_conversation_messages', 'SELECT', array['authenticated']),
       ('ai_conversation_messages', 'SELECT', array['service_role']),
       ('ai_conversation_settings', 'SELECT', array['authenticated']),
       ('ai_conversation_settings', 'SELECT', array['service_role']),
       ('ai_conversation_settings', 'UPDATE', array['service_role']),
       ('ai_conversations', 'DELETE', array['authenticated']),
       ('ai_conversations', 'DELETE', array['service_role']),
       ('ai_conversations', 'INSERT', array['authenticated']),
       ('ai_conversations', 'INSERT', array['service_role']),
       ('ai_conversations', 'SELECT', array['authenticated']),
       ('ai_conversations', 'SELECT', array['service_role']),
       ('ai_conversations', 'UPDATE', array['authenticated']),
       ('ai_conversations', 'UPDATE', array['service_role']),
       ('conversation_totals', 'SELECT', array['service_role']) $$,
  'each policy applies to one role and one command; none to anon or public'
);
select ok(
  (select bool_and(qual like '%( SELECT auth.uid() AS uid)%' or with_check like '%( SELECT auth.uid() AS uid)%')
     from pg_policies
    where schemaname = 'public' and 'authenticated' = any(roles)
      and tablename in ('ai_conversations', 'ai_conversation_messages')),
  'authenticated policies use (select auth.uid()), evaluated once per statement'
);

-- Functions -------------------------------------------------------------------------------------
select has_function('public', 'create_conversation', array['text', 'uuid', 'jsonb', 'integer'], 'create_conversation exists');
select has_function('public', 'append_message', array['text', 'text', 'text', 'jsonb', 'text', 'text', 'integer'], 'append_message exists');
select has_function('public', 'begin_chat_turn', array['text', 'text', 'uuid', 'jsonb', 'text', 'integer', 'jsonb', 'boolean', 'integer'], 'begin_chat_turn exists');
select has_function('public', 'get_messages', array['text', 'integer', 'bigint'], 'get_messages exists');
select has_function('public', 'get_conversation', array['text', 'integer', 'bigint'], 'get_conversation exists');
select has_function('public', 'list_conversations', array['uuid', 'integer', 'text', 'boolean', 'boolean', 'text[]', 'jsonb'], 'list_conversations exists');
select has_function('public', 'extend_conversation', array['text', 'integer'], 'extend_conversation exists');
select has_function('public', 'clear_conversation', array['text'], 'clear_conversation exists');
select has_function('public', 'delete_conversation', array['text'], 'delete_conversation exists');
select has_function('public', 'export_conversation', array['text'], 'export_conversation exists');
select has_function('public', 'conversation_stats', array[]::text[], 'conversation_stats exists');
select has_function('public', 'cleanup_expired_conversations', array['integer'], 'cleanup_expired_conversations exists');
select has_function('public', 'import_conversation', array['jsonb'], 'import_conversation exists');
select has_function('private', 'copy_messages_for_fork', array['text', 'text', 'bigint'],
                    'copy_messages_for_fork exists (the fork''s copies, seq kept)');
select function_returns('public', 'cleanup_expired_conversations', array['integer'], 'integer',
                        'cleanup_expired_conversations returns the number removed (integer)');

select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'public'::regnamespace
        and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        and (p.prosecdef or p.proconfig is null or not ('search_path=""' = any(p.proconfig))) $$,
  'every public function is security invoker with search_path = '''''
);
select results_eq(
  $$ select p.proname::text collate "default" from pg_proc p
      where p.pronamespace = 'private'::regnamespace and p.prosecdef order by 1 $$,
  $$ values ('after_conversations_change'), ('after_messages_delete'), ('append_turn_batch'), ('before_message_insert'),
            ('broadcast_deleted_conversations'), ('broadcast_deleted_messages'), ('broadcast_messages'),
            ('copy_messages_for_fork'), ('delete_feedback_of_deleted_messages'), ('erase_deleted_auth_user'),
            ('forbid_held_messages_delete'), ('mark_conversation_rated'), ('purge_expired_conversation'), ('rebuild_search_index'), ('recount_totals'), ('search_hits'),
            ('turn_stream_transition'), ('wait_for_usage_rollup') $$,
  'the only security definer functions are the private helpers that write counters, purge expired rows, copy a fork''s seqs, broadcast changes, write or end a turn''s stream or wait for the usage roll-up'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'private'::regnamespace and p.prokind = 'f'
        and (p.proconfig is null or not ('search_path=""' = any(p.proconfig)))
        and p.prosqlbody is null $$,
  'every private function has search_path = '''', or a SQL-standard body (names bound when created)'
);

-- Execute privileges ----------------------------------------------------------------------------
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
        and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        and has_function_privilege('anon', p.oid, 'execute') $$,
  'anon may execute no function of public or private'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p, aclexplode(p.proacl) a
      where p.pronamespace = 'public'::regnamespace and a.grantee = 0 $$,
  'no public function is executable by PUBLIC (explicit grants only)'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'public'::regnamespace and p.proacl is null
        and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e') $$,
  'no public function relies on default privileges (which grant PUBLIC execute)'
);
select results_eq(
  $$ select p.proname::text collate "default" from pg_proc p
      where p.pronamespace = 'public'::regnamespace
        and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        and has_function_privilege('authenticated', p.oid, 'execute') order by 1 $$,
  $$ values ('append_message'), ('append_messages'), ('append_summary'), ('begin_chat_turn'), ('begin_turn'),
            ('clear_conversation'), ('context_fits'), ('conversation_topic'), ('create_conversation'), ('delete_conversation'), ('delete_message'),
            ('delete_message_feedback'), ('delete_response'), ('export_conversation'),
            ('export_conversation_page'), ('extend_conversation'), ('finish_turn'), ('fork_conversation'), ('get_context'),
            ('get_conversation'), ('get_message'), ('get_messages'), ('get_response'), ('get_running_turn'), ('get_summary_input'),
            ('get_turn'), ('get_usage'), ('list_conversations'), ('list_messages'), ('list_response_items'),
            ('search_messages'), ('set_message_feedback'), ('stop_turn'), ('update_conversation') $$,
  'authenticated may execute exactly the user-facing store functions'
);
select function_privs_are('public', 'conversation_stats', array[]::text[], 'authenticated', array[]::text[],
                          'authenticated cannot execute conversation_stats');
select function_privs_are('public', 'cleanup_expired_conversations', array['integer'], 'authenticated', array[]::text[],
                          'authenticated cannot execute cleanup_expired_conversations');
select function_privs_are('public', 'import_conversation', array['jsonb'], 'authenticated', array[]::text[],
                          'authenticated cannot execute import_conversation');
select function_privs_are('public', 'conversation_stats', array[]::text[], 'service_role', array['EXECUTE'],
                          'service_role can execute conversation_stats');
select function_privs_are('public', 'cleanup_expired_conversations', array['integer'], 'service_role', array['EXECUTE'],
                          'service_role can execute cleanup_expired_conversations');
select function_privs_are('public', 'import_conversation', array['jsonb'], 'service_role', array['EXECUTE'],
                          'service_role can execute import_conversation');
select ok(
  (select bool_and(has_function_privilege('service_role', p.oid, 'execute'))
     from pg_proc p where p.pronamespace = 'public'::regnamespace
      and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')),
  'service_role may execute every public function'
);

-- Table privileges ------------------------------------------------------------------------------
select table_privs_are('public', 'ai_conversations', 'anon', array[]::text[], 'anon has no privilege on ai_conversations');
select table_privs_are('public', 'ai_conversation_messages', 'anon', array[]::text[], 'anon has no privilege on ai_conversation_messages');
select table_privs_are('public', 'ai_conversation_settings', 'anon', array[]::text[], 'anon has no privilege on ai_conversation_settings');
select is_empty(
  $$ select format('%s.%s', a.attrelid::regclass, a.attname) collate "default" from pg_attribute a
      where a.attrelid in ('public.ai_conversations'::regclass, 'public.ai_conversation_messages'::regclass,
                           'public.ai_conversation_settings'::regclass)
        and a.attnum > 0 and not a.attisdropped
        and has_column_privilege('anon', a.attrelid, a.attnum, 'select, insert, update, references') $$,
  'anon has no column privilege either'
);
select table_privs_are('private', 'conversation_totals', 'anon', array[]::text[], 'anon has no privilege on conversation_totals');
select table_privs_are('private', 'conversation_totals', 'authenticated', array[]::text[], 'authenticated has no privilege on conversation_totals');
select table_privs_are('private', 'conversation_totals', 'service_role', array['SELECT'], 'service_role only reads conversation_totals');
select schema_privs_are('private', 'anon', array[]::text[], 'anon has no usage on schema private');

select table_privs_are('public', 'ai_conversations', 'authenticated', array['DELETE', 'SELECT'],
                       'authenticated has table-level select and delete on ai_conversations (inserts and updates by column)');
select table_privs_are('public', 'ai_conversation_messages', 'authenticated', array['DELETE', 'SELECT'],
                       'authenticated has table-level select and delete on ai_conversation_messages (inserts by column)');
select table_privs_are('public', 'ai_conversation_settings', 'authenticated', array['SELECT'],
                       'authenticated only reads the settings');
select table_privs_are('public', 'ai_conversations', 'service_role', array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
                       'service_role reads and writes ai_conversations');
select table_privs_are('public', 'ai_conversation_messages', 'service_role', array['DELETE', 'INSERT', 'SELECT'],
                       'service_role reads, inserts and deletes messages, never updates them');

select results_eq(
  $$ select a.attname::text collate "default" from pg_attribute a
      where a.attrelid = 'public.ai_conversations'::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege('authenticated', a.attrelid, a.attnum, 'update') order by 1 $$,
  $$ values ('archived'), ('expires_at'), ('metadata'), ('pinned'), ('tags'), ('title') $$,
  'authenticated may update only metadata, expires_at and the organising fields of a conversation (not user_id, legal_hold, last_seq, message_count)'
);
select results_eq(
  $$ select a.attname::text collate "default" from pg_attribute a
      where a.attrelid = 'public.ai_conversations'::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege('authenticated', a.attrelid, a.attnum, 'insert') order by 1 $$,
  $$ values ('conversation_id'), ('metadata'), ('title'), ('ttl_hours'), ('user_id') $$,
  'authenticated may insert only conversation_id, user_id, metadata and ttl_hours'
);
select is_empty(
  $$ select a.attname::text collate "default" from pg_attribute a
      where a.attrelid = 'public.ai_conversation_messages'::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege('authenticated', a.attrelid, a.attnum, 'update') $$,
  'authenticated may update no message column (seq included)'
);
select results_eq(
  $$ select a.attname::text collate "default" from pg_attribute a
      where a.attrelid = 'public.ai_conversation_messages'::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege('authenticated', a.attrelid, a.attnum, 'insert') order by 1 $$,
  $$ values ('content'), ('conversation_id'), ('idempotency_key'), ('metadata'), ('role') $$,
  'authenticated may insert only role, content, metadata, idempotency_key and conversation_id (never seq, id, created_at)'
);
select results_eq(
  $$ select a.attname::text collate "default" from pg_attribute a
      where a.attrelid = 'public.ai_conversation_settings'::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege('service_role', a.attrelid, a.attnum, 'update') order by 1 $$,
  $$ values ('broadcast_conversations'), ('broadcast_max_bytes'), ('broadcast_service'),
            ('compaction_threshold_tokens'), ('max_content_chars'), ('max_messages_per_conversation'),
            ('max_metadata_bytes'), ('max_page_size'), ('max_ttl_hours'), ('search_config'), ('ttl_hours'),
            ('turn_events_retention_minutes'), ('turn_lease_seconds') $$,
  'service_role may update the settings values, not id nor updated_at'
);
select results_eq(
  $$ select count(*)::integer from public.ai_conversation_settings $$,
  $$ values (1) $$,
  'the settings table holds exactly one row'
);

-- Dashboard views -------------------------------------------------------------------------------
select has_view('public', 'ai_conversation_recent', 'view ai_conversation_recent exists');
select has_view('public', 'ai_conversation_most_active', 'view ai_conversation_most_active exists');
select has_view('public', 'ai_conversation_user_activity', 'view ai_conversation_user_activity exists');
select has_view('public', 'ai_conversation_length_stats', 'view ai_conversation_length_stats exists');
select has_view('public', 'ai_conversation_duration_stats', 'view ai_conversation_duration_stats exists');
select has_view('public', 'ai_conversation_peak_hours', 'view ai_conversation_peak_hours exists');
select has_view('public', 'ai_conversation_role_distribution', 'view ai_conversation_role_distribution exists');
select results_eq(
  $$ select c.relname::text collate "default",
            coalesce('security_invoker=true' = any(c.reloptions), false),
            has_table_privilege('service_role', c.oid, 'select'),
            has_table_privilege('authenticated', c.oid, 'select, insert, update, delete'),
            has_table_privilege('anon', c.oid, 'select, insert, update, delete')
       from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind = 'v' and c.relname like 'ai\_%'
      order by 1 $$,
  $$ values ('ai_conversation_duration_stats', true, true, false, false),
            ('ai_conversation_legal_holds', true, true, false, false),
            ('ai_conversation_length_stats', true, true, false, false),
            ('ai_conversation_most_active', true, true, false, false),
            ('ai_conversation_peak_hours', true, true, false, false),
            ('ai_conversation_recent', true, true, false, false),
            ('ai_conversation_role_distribution', true, true, false, false),
            ('ai_conversation_titles', true, true, false, false),
            ('ai_conversation_user_activity', true, true, false, false),
            ('ai_feedback_by_model_day', true, true, false, false),
            ('ai_usage_by_day_model', true, true, false, false),
            ('ai_usage_by_user', true, true, false, false) $$,
  'every dashboard view is security_invoker and readable by service_role only'
);

-- Realtime --------------------------------------------------------------------------------------
select ok(
  exists (select 1 from pg_publication_tables
           where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'ai_conversation_messages'),
  'ai_conversation_messages is in the supabase_realtime publication'
);
select * from finish();
rollback;
