-- Test-only helpers for the pgTAP suite (Basejump style), applied by `make test-db` before
-- pg_prove and never by the migrations, so no deployed database has them. Idempotent.
--
-- A test acts as a caller the way PostgREST (and the Postgres transport) set one up: the role
-- and the JWT claims, both local to the test's transaction:
--   select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');  -- as user A
--   select tests.authenticate_as_service();
--   select tests.authenticate_as_anon();
--   select tests.clear_authentication();                                  -- back to postgres
create schema if not exists tests;
comment on schema tests is 'Helpers for the pgTAP suite only; created by the test run, not by the migrations.';
grant usage on schema tests to anon, authenticated, service_role;

create or replace function tests.act_as(p_role text, p_claims jsonb)
returns void
language sql
set search_path = ''
as $$
  select set_config('request.jwt.claims', p_claims::text, true), set_config('role', p_role, true);
$$;
comment on function tests.act_as(text, jsonb) is
  'Acts as p_role with these JWT claims until the transaction ends (or clear_authentication()).';

create or replace function tests.authenticate_as(p_user_id uuid)
returns void
language sql
set search_path = ''
as $$
  select tests.act_as('authenticated', jsonb_strip_nulls(
    jsonb_build_object('role', 'authenticated', 'sub', p_user_id)));
$$;
comment on function tests.authenticate_as(uuid) is
  'Acts as this user (role authenticated, sub = p_user_id); null: a user token without sub.';

create or replace function tests.authenticate_as_service()
returns void
language sql
set search_path = ''
as $$
  select tests.act_as('service_role', '{"role": "service_role"}');
$$;
comment on function tests.authenticate_as_service() is 'Acts as the service (role service_role).';

create or replace function tests.authenticate_as_anon()
returns void
language sql
set search_path = ''
as $$
  select tests.act_as('anon', '{"role": "anon"}');
$$;
comment on function tests.authenticate_as_anon() is 'Acts as an anonymous caller (role anon).';

create or replace function tests.clear_authentication()
returns void
language sql
set search_path = ''
as $$
  select set_config('request.jwt.claims', '', true), set_config('role', 'none', true);
$$;
comment on function tests.clear_authentication() is 'Back to the session user (postgres), without claims.';

-- EXPLAIN's text, for tests that pin a plan (an index scan, an inlined function).
create or replace function tests.plan(p_query text)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_line text;
  v_plan text := '';
begin
  for v_line in execute 'explain (verbose, costs off) ' || p_query loop
    v_plan := v_plan || v_line || e'\n';
  end loop;
  return v_plan;
end
$$;
comment on function tests.plan(text) is 'The verbose plan of p_query as text.';

-- Realtime's authorisation of a private channel, as Realtime runs it (Realtime.Tenants.Authorization):
-- as its admin it stores a probe row for the topic, then, as the client (role, claims and
-- realtime.topic set), reads it back (may the client receive?) or stores one (may it send?).
create or replace function tests.realtime_probe(p_topic text, p_extension text)
returns uuid
language sql
security definer
set search_path = ''
as $$
  insert into realtime.messages (topic, extension, private) values (p_topic, p_extension, true)
  returning id
$$;
comment on function tests.realtime_probe(text, text) is
  'Stores a probe row for a topic as the table''s owner would (bypassing RLS), as Realtime does.';

create or replace function tests.realtime_receives(p_topic text, p_extension text default 'broadcast')
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_probe uuid := tests.realtime_probe(p_topic, p_extension);
begin
  perform set_config('realtime.topic', p_topic, true);
  return exists (select 1 from realtime.messages m where m.id = v_probe);
end
$$;
comment on function tests.realtime_receives(text, text) is
  'Whether the current caller may receive the topic (Realtime''s read check under the policies of realtime.messages).';

create or replace function tests.realtime_sends(p_topic text)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  perform set_config('realtime.topic', p_topic, true);
  insert into realtime.messages (topic, extension, private) values (p_topic, 'broadcast', true);
  return true;
exception when insufficient_privilege then
  return false;
end
$$;
comment on function tests.realtime_sends(text) is
  'Whether the current caller may send on the topic (Realtime''s write check); the row stays until rollback.';

grant execute on all functions in schema tests to anon, authenticated, service_role;
