#!/usr/bin/env bash
# Install/uninstall test: the store next to an unrelated application, then removed.
#
#   scripts/uninstall_test.sh
#
# On a throwaway cluster (scripts/lib/throwaway.sh; UNINSTALL_PORT, default a free port; the
# dev database is never touched) it (a) builds a Supabase project database holding a host
# application, deployed the way a project deploys: its own migration through `supabase migration up` (a schema, tables,
# functions, policies, a trigger on auth.users, a pg_cron job, a publication entry, a policy on
# realtime.messages, a role setting, and Supabase's "default privileges for new entities"
# on); snapshots it; (b) installs the store as a project would: its migrations copied next to
# the host's, `supabase migration up`; uses it; checks that a function the host creates now
# still gets the project's default privileges; (c) removes it: supabase/uninstall.sql, the
# store's migration files deleted, `supabase migration repair --status reverted` for their
# versions; then checks that the schema (pg_dump --schema-only, privileges included), the
# default privileges, the cron jobs, the publication, the role settings, the extensions and the
# migration history are exactly what they were. A diff on any mismatch; the cluster is removed
# whatever happens.
set -euo pipefail

LOG_TAG="uninstall"
[[ -n "${UNINSTALL_PORT:-}" ]] && THROWAWAY_PORT="${UNINSTALL_PORT}"
# shellcheck source=scripts/lib/throwaway.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/throwaway.sh"

URL="${THROWAWAY_URL}"
WORK="${THROWAWAY_WORK}"
q() { psql "${URL}" -qAtX -v ON_ERROR_STOP=1 "$@"; }
migrate() {
  (cd "${PROJECT}" && "${CLI}" migration "$@" --db-url "${URL}?sslmode=disable" >>"${WORK}/cli.log" 2>&1) \
    || { cat "${WORK}/cli.log" >&2; die "supabase migration $* failed"; }
}

# --- (a) the host application, deployed with its own migration -------------------------------------
PROJECT="$(new_build project)"  # the host application's project: its own stack.sh ROOT
cat > "${PROJECT}/supabase/migrations/20250101000000_host_app.sql" <<'SQL'
-- An application that had the project before the conversation store came.
create extension if not exists pg_cron with schema pg_catalog;

-- Supabase's "default privileges for new entities" on, as projects created before 2026 had it.
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;

create schema app;
grant usage on schema app to authenticated, service_role;
create table app.projects (
  id bigint generated always as identity primary key,
  name text not null,
  owner uuid not null references auth.users (id) on delete cascade
);
alter table app.projects enable row level security;
create policy "owners read their projects" on app.projects for select to authenticated
  using (owner = (select auth.uid()));
grant select on app.projects to authenticated;

create table public.notes (id bigint generated always as identity primary key, body text not null);
alter table public.notes enable row level security;
create policy "signed-in users read notes" on public.notes for select to authenticated using (true);
create function public.note_count() returns bigint language sql stable as $$ select count(*) from public.notes $$;
create function app.first_project() returns trigger language plpgsql security definer set search_path = '' as $$
begin
  insert into app.projects (name, owner) values ('first', new.id);
  return new;
end
$$;
create trigger on_auth_user_created after insert on auth.users
  for each row execute function app.first_project();

alter publication supabase_realtime add table public.notes;
create policy "signed-in users receive rooms" on realtime.messages for select to authenticated
  using (realtime.messages.extension = 'broadcast' and (select realtime.topic()) like 'room:%');
select cron.schedule('app-nightly-report', '0 2 * * *', 'select public.note_count()');
alter role authenticated set idle_in_transaction_session_timeout = '60s';
SQL
log "building a project database with a host application (port ${THROWAWAY_PORT})"
build "${PROJECT}"

# What must come back: the schema (privileges and default privileges included), and the
# catalogs a dump does not show (cron jobs, role settings) or shows in an order of its own.
snapshot() {
  pg_dump "${URL}" --schema-only \
    | grep -vE '^(--|SET |SELECT pg_catalog\.set_config|\\restrict|\\unrestrict)' \
    | grep -v '^[[:space:]]*$'
  q <<'SQL'
select 'default acl', d.defaclrole::regrole, d.defaclnamespace::regnamespace, d.defaclobjtype,
       (select string_agg(a.grantee::regrole || ':' || a.privilege_type, ',' order by 1) from aclexplode(d.defaclacl) a)
  from pg_default_acl d order by 2, 3, 4;
select 'cron job', j.jobid, j.jobname, j.schedule, j.command, j.database, j.username, j.active
  from cron.job j order by j.jobid;
select 'publication', p.pubname, p.schemaname, p.tablename from pg_publication_tables p order by 2, 3, 4;
select 'role setting', r.rolname, s.setdatabase, s.setconfig
  from pg_db_role_setting s join pg_roles r on r.oid = s.setrole order by 2, 3;
select 'extension', e.extname, e.extversion, e.extnamespace::regnamespace from pg_extension e order by 2;
select 'role', r.rolname, r.rolsuper, r.rolbypassrls, r.rolcanlogin from pg_roles r
 where r.rolname in ('anon', 'authenticated', 'service_role', 'authenticator', 'postgres') order by 2;
select 'migration', m.version, m.name from supabase_migrations.schema_migrations m order by 2;
SQL
}
snapshot > "${WORK}/before.txt"

# --- (b) the store, installed as a project installs it -------------------------------------------
mapfile -t store_migrations < <(cd "${ROOT}/supabase/migrations" && ls -1 ./*.sql | sed 's|^\./||')
cp "${ROOT}/supabase/migrations/"*.sql "${PROJECT}/supabase/migrations/"
log "installing the store: ${#store_migrations[@]} migrations with supabase migration up"
migrate up
failed=0
# The store works next to the host (broadcasting, as on Supabase)...
q >/dev/null <<'SQL'
update public.ai_conversation_settings set broadcast_conversations = true, broadcast_service = true;
select public.create_conversation('uninstall-test', null, '{"from": "the uninstall test"}');
select public.append_message('uninstall-test', 'user', 'hello');
select public.clear_conversation('uninstall-test');
select public.append_message('uninstall-test', 'user', 'again');
select public.delete_conversation('uninstall-test');
SQL
# ...and the host's next migration still gets the project's default privileges.
same="$(q <<'SQL'
create function public.host_after_install() returns integer language sql as $$ select 1 $$;
select (select proacl from pg_proc where oid = 'public.host_after_install()'::regprocedure)
     = (select proacl from pg_proc where oid = 'public.note_count()'::regprocedure);
drop function public.host_after_install();
SQL
)"
if [[ "${same}" != "t" ]]; then
  log "a function the host created after the install did not get the project's default privileges"
  failed=1
else
  log "a function the host creates after the install gets the project's default privileges"
fi

# --- (c) uninstalled --------------------------------------------------------------------------------
log "uninstalling: supabase/uninstall.sql, then the migration history repaired"
q -f "${ROOT}/supabase/uninstall.sql" >/dev/null
for f in "${store_migrations[@]}"; do rm "${PROJECT}/supabase/migrations/${f}"; done
migrate repair --status reverted "${store_migrations[@]%%_*}"
snapshot > "${WORK}/after.txt"
if ! diff -u --label before "${WORK}/before.txt" --label after "${WORK}/after.txt" >&2; then
  log "the database is not what it was before the install (diff above)"
  failed=1
else
  log "schema, privileges, default privileges, cron jobs, publication, role settings, extensions and" \
      "migration history are as before ($(wc -l < "${WORK}/before.txt") lines compared)"
fi
if ! q -f "${ROOT}/supabase/uninstall.sql" >/dev/null; then
  log "supabase/uninstall.sql fails on a database without the store"
  failed=1
fi
exit "${failed}"
