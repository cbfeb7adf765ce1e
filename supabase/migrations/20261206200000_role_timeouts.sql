-- Conversation storage, release 3: lock and statement timeouts for the API's roles.
--
-- One locked conversation must not starve the API. Appends lock their conversation's row; a
-- transaction that holds that lock (an open dashboard session, a long admin statement) made
-- every append to it wait without limit, each holding one of the API's pooled connections,
-- until the pool ran dry and requests for unrelated conversations failed too. A short
-- lock_timeout makes a call that meets such a lock fail fast (SQLSTATE 55P03, which the API
-- answers 409 conversation_busy with Retry-After) and give its connection back; normal row
-- lock waits between appends last microseconds. The service had no statement_timeout at all.
--
-- Role settings apply to sessions that log in as the role. The API's transports switch roles
-- per call (PostgREST and the Postgres transport both: set_config('role', ...)) and apply the
-- role's statement_timeout and lock_timeout read from pg_db_role_setting, as PostgREST does.
-- authenticated and anon keep the statement_timeout Supabase gives them (8 s, 3 s).
alter role service_role set statement_timeout = '30s';
alter role service_role set lock_timeout = '1s';
alter role authenticated set lock_timeout = '1s';
alter role anon set lock_timeout = '1s';
