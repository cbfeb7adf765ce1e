-- Rule: the store changes no default privilege; each of its functions is granted by name.
--
-- After the migrations, a function the host application creates (in public, or in a schema of
-- its own) gets exactly what it would get on a database without the store: PostgreSQL's default
-- (EXECUTE for PUBLIC, so for anon and authenticated too) plus whatever the project's own
-- default privileges add. No default-privilege entry of the migrations' role is left that
-- closes functions; the extensions schema has none of the store's. And since nothing is closed
-- by default any more, every function of the store carries its own explicit privileges: none is
-- executable by PUBLIC.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(8);

-- No default privileges of the store's ----------------------------------------------------------------
select is_empty(
  $$ select d.defaclrole::regrole::text from pg_default_acl d
      where d.defaclobjtype = 'f' and d.defaclnamespace = 0 $$,
  'no global default privileges for functions: PostgreSQL''s own apply (EXECUTE for PUBLIC)'
);
select is_empty(
  $$ select d.defaclrole::regrole::text from pg_default_acl d
      where d.defaclobjtype = 'f' and d.defaclnamespace = 'extensions'::regnamespace $$,
  'no default privileges in the extensions schema'
);

-- What the host application creates afterwards keeps the defaults ------------------------------------
create function public.host_app_ping() returns text language sql as $$ select 'pong' $$;
create schema host_app;
create function host_app.total(a integer, b integer) returns integer language sql as $$ select a + b $$;
grant usage on schema host_app to anon, authenticated, service_role;

select is(
  (select p.proacl from pg_proc p where p.oid = 'public.host_app_ping()'::regprocedure),
  null,
  'a function the host creates in public after the migrations has the default privileges (no ACL of its own)'
);
select ok(
  has_function_privilege('anon', 'public.host_app_ping()', 'execute')
  and has_function_privilege('authenticated', 'public.host_app_ping()', 'execute')
  and has_function_privilege('service_role', 'public.host_app_ping()', 'execute'),
  'so anon, authenticated and service_role may call it, as its PostgREST RPC needs'
);
select is(
  (select p.proacl from pg_proc p where p.oid = 'host_app.total(integer, integer)'::regprocedure),
  null,
  'a function in a schema of the host''s own has the default privileges too'
);
select tests.authenticate_as('7f1e0000-0000-4000-8000-00000000000a');
select is(host_app.total(2, 3), 5, 'and a signed-in user calls it');
select tests.clear_authentication();

-- The store's functions are granted one by one ---------------------------------------------------------
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
        and p.proname not like 'host\_app%'
        and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0)) $$,
  'every function of the store (public and private) has explicit privileges, none for PUBLIC'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'private'::regnamespace
        and has_function_privilege('anon', p.oid, 'execute') $$,
  'anon may execute no private function'
);

select * from finish();
rollback;
