-- Rule: the API's roles wait at most 1 s for a lock, and the service's statements are bounded.
--
-- A locked conversation answers fast instead of holding pooled connections (see the migration
-- 20261206200000_role_timeouts.sql); the transports apply these per call.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(4);

create function pg_temp.role_setting(p_role text, p_name text) returns text language sql as $$
  select substr(c.setting, length(p_name) + 2)
    from pg_db_role_setting s
    join pg_roles r on r.oid = s.setrole
   cross join lateral unnest(s.setconfig) as c(setting)
   where r.rolname = p_role and c.setting like p_name || '=%'
   order by s.setdatabase desc
   limit 1
$$;

select is(pg_temp.role_setting('service_role', 'lock_timeout'), '1s', 'service_role: lock_timeout 1s');
select is(pg_temp.role_setting('service_role', 'statement_timeout'), '30s', 'service_role: statement_timeout 30s');
select is(pg_temp.role_setting('authenticated', 'lock_timeout'), '1s', 'authenticated: lock_timeout 1s');
select is(pg_temp.role_setting('anon', 'lock_timeout'), '1s', 'anon: lock_timeout 1s');

select * from finish();
rollback;
