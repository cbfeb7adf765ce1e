-- A good neighbour, part 1: the default privileges release 2 changed are given back.
--
-- 20261201100300_function_privileges.sql closed new functions by default with
-- `alter default privileges`: globally (no EXECUTE for PUBLIC), in public and private (none for
-- anon and authenticated), and opened the extensions schema again. Migrations run as postgres, so
-- those defaults reached every function the host application created afterwards, in any schema:
-- its RPCs failed until someone granted them. Privileges are explicit per function instead
-- (every store function has its own grant list entry, and the migrations that add functions
-- revoke and grant them one by one); the defaults go back to what they were:
--   - PUBLIC executes new functions again (PostgreSQL's own default: the global entry goes);
--   - the extensions schema needs no entry of its own any more (it goes);
--   - public and private: the revoke from anon and authenticated is undone where it took
--     something away, i.e. where the entry still grants service_role EXECUTE (a project with
--     Supabase's "default privileges for new entities" on) but no longer anon or authenticated.
--     A project with that setting off had nothing taken, and gets nothing.
alter default privileges grant execute on functions to public;
alter default privileges in schema extensions revoke execute on functions from public;

do $$
declare
  v_schema regnamespace;
begin
  for v_schema in
    select d.defaclnamespace::regnamespace
      from pg_catalog.pg_default_acl d
     where d.defaclrole = current_user::regrole
       and d.defaclobjtype = 'f'
       and d.defaclnamespace in (to_regnamespace('public'), to_regnamespace('private'))
       and exists (select 1 from pg_catalog.aclexplode(d.defaclacl) a
                    where a.grantee = 'service_role'::regrole and a.privilege_type = 'EXECUTE')
       and not exists (select 1 from pg_catalog.aclexplode(d.defaclacl) a
                        where a.grantee in ('anon'::regrole, 'authenticated'::regrole))
  loop
    -- Revoked and granted again so the entry reads as Supabase writes it (anon, authenticated,
    -- service_role, in that order), not only means the same.
    execute format('alter default privileges in schema %s revoke execute on functions from service_role', v_schema);
    execute format('alter default privileges in schema %s grant execute on functions to anon, authenticated, service_role',
                   v_schema);
  end loop;
end
$$;
