#!/usr/bin/env bash
# Upgrade test: the first release's migrations (commit e4edba8) upgraded to the current ones.
#
#   scripts/upgrade_test.sh
#
# On a throwaway cluster (UPGRADE_PORT, default STACK_PORT + 100; the dev database is never
# touched) it (a) builds a database from the migrations exactly as released, read with
# `git show`, and fills it with conversations and messages; (b) upgrades it with
# `supabase migration up` and the current supabase/migrations; then checks that (i) its schema
# equals a fresh database's (pg_dump --schema-only, normalised; a diff on mismatch), (ii) every
# row is still there (counts and checksums), and one the release allowed with infinite
# timestamps was repaired, (iii) the pgTAP suite passes on it, (iv) its default privileges are
# the platform's (release 2 changed them, a later migration gives them back). Exits non-zero
# on any mismatch; the cluster is stopped and removed whatever happens.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RELEASE="${UPGRADE_FROM:-e4edba8}"
PORT="${UPGRADE_PORT:-$(( ${STACK_PORT:-54322} + 100 ))}"
NAME="upgrade-test"
URL="postgresql://postgres:postgres@127.0.0.1:${PORT}/postgres"
CLI="${ROOT}/node_modules/.bin/supabase"

log() { printf '\033[1;34m[upgrade]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[upgrade]\033[0m %s\n' "$*" >&2; exit 1; }

[[ -x "${CLI}" ]] || die "Supabase CLI missing: run 'make deps'"
git -C "${ROOT}" rev-parse --verify --quiet "${RELEASE}^{commit}" >/dev/null \
  || die "release commit ${RELEASE} is not in this clone (a shallow clone? fetch it): cannot test the upgrade"
if (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then
  die "port ${PORT} is already in use; set UPGRADE_PORT to a free one"
fi

WORK="$(mktemp -d)"
RELEASED="${WORK}/released"  # a copy of the project as released: its own stack.sh ROOT
# The stack as of now (bootstrap, cluster settings), with the migrations as released.
stack_released() { STACK_PORT="${PORT}" STACK_NAME="${NAME}" "${RELEASED}/scripts/stack.sh" "$@"; }
stack_current() { STACK_PORT="${PORT}" STACK_NAME="${NAME}" "${ROOT}/scripts/stack.sh" "$@"; }
cleanup() {
  local rc=$? stack dir
  for stack in stack_released stack_current; do
    dir="$("${stack}" datadir 2>/dev/null)" || continue
    "${stack}" down >/dev/null 2>&1 || true
    rm -rf "${dir}"
  done
  rm -rf "${WORK}" "${ROOT}/.local/migrate-${NAME}.log"
  if [[ ${rc} -eq 0 ]]; then log "upgrade test passed"; else log "upgrade test FAILED"; fi
  exit "${rc}"
}
trap cleanup EXIT

q() { psql "${URL}" -qAtX -v ON_ERROR_STOP=1 "$@"; }

# --- (a) the database as released, with data ----------------------------------------------------
mkdir -p "${RELEASED}/scripts" "${RELEASED}/supabase/migrations" "${RELEASED}/supabase/platform" "${RELEASED}/.local"
cp "${ROOT}/scripts/stack.sh" "${RELEASED}/scripts/"
cp "${ROOT}/supabase/config.toml" "${RELEASED}/supabase/"
cp "${ROOT}/supabase/platform/bootstrap.sql" "${RELEASED}/supabase/platform/"
ln -s "${ROOT}/node_modules" "${RELEASED}/node_modules"
mapfile -t released_files < <(git -C "${ROOT}" ls-tree --name-only "${RELEASE}" supabase/migrations/)
[[ ${#released_files[@]} -gt 0 ]] || die "no migrations at ${RELEASE}"
for f in "${released_files[@]}"; do
  git -C "${ROOT}" show "${RELEASE}:${f}" > "${RELEASED}/${f}"
done
log "building a database from the ${#released_files[@]} migrations released at ${RELEASE} (port ${PORT})"
stack_released reset >/dev/null

log "filling it with conversations and messages"
q >/dev/null <<'SQL'
select public.create_conversation('upg-alice-' || i, '7f1e0000-0000-4000-8000-00000000a11c',
                                  jsonb_build_object('channel', 'web', 'n', i))
  from generate_series(1, 3) i;
select public.create_conversation('upg-bob', '7f1e0000-0000-4000-8000-000000000b0b', '{"tier": "pro"}', 48);
select public.create_conversation('upg-anon', null, '{"source": "widget"}');
select public.create_conversation('upg-cleared', '7f1e0000-0000-4000-8000-00000000a11c');
select public.append_message(c, r, format('%s says %s', r, n), jsonb_build_object('model', 'm-1', 'tokens', n),
                             case when n % 2 = 0 then c || '-key-' || n end)
  from unnest(array['upg-alice-1', 'upg-alice-2', 'upg-alice-3', 'upg-bob', 'upg-anon', 'upg-cleared']) c,
       generate_series(1, 6) n,
       lateral (select (array['user', 'assistant', 'tool'])[1 + n % 3] as r) x
 order by c, n;
select public.append_message('upg-bob', 'user', 'a replay', '{}', 'upg-bob-key-2');
select public.clear_conversation('upg-cleared');
select public.append_message('upg-cleared', 'user', 'after the clear', '{"tool_calls": [{"name": "search"}]}');
-- What the release let the dashboard store and a later migration refuses: infinite timestamps.
-- Kept out of the snapshot (the upgrade repairs them); checked after the upgrade.
insert into public.ai_conversations (conversation_id, created_at, expires_at)
values ('upg-infinite', '-infinity', 'infinity');
insert into public.ai_conversation_messages (conversation_id, role, content, created_at)
values ('upg-infinite', 'user', 'from the dashboard', '-infinity');
SQL

# Rows, by content (ids, seq, timestamps, counters included), in a stable order: the columns the
# release has, so a later release may add columns (with their defaults or a backfill) but never
# change what a released column holds.
released_columns() {
  q -c "select string_agg(quote_literal(a.attname), ', ' order by a.attnum) from pg_attribute a
         where a.attrelid = '$1'::regclass and a.attnum > 0 and not a.attisdropped"
}
conversation_columns="$(released_columns public.ai_conversations)"
message_columns="$(released_columns public.ai_conversation_messages)"
snapshot() {
  q <<SQL
select 'conversations', count(*), md5(coalesce(string_agg(
         (select jsonb_object_agg(e.key, e.value) from jsonb_each(to_jsonb(c)) e
           where e.key in (${conversation_columns}))::text, '|' order by c.conversation_id), ''))
  from public.ai_conversations c where c.conversation_id <> 'upg-infinite';
select 'messages', count(*), md5(coalesce(string_agg(
         (select jsonb_object_agg(e.key, e.value) from jsonb_each(to_jsonb(m)) e
           where e.key in (${message_columns}))::text, '|' order by m.conversation_id, m.seq), ''))
  from public.ai_conversation_messages m where m.conversation_id <> 'upg-infinite';
select 'totals', sum(t.conversations), sum(t.messages) from private.conversation_totals t;
SQL
}
before="$(snapshot)"
# Default privileges, by schema name (release 2's migrations changed them for every later function).
default_acls() {
  psql "${URL%/*}/$1" -qAtX -v ON_ERROR_STOP=1 -c "
    select d.defaclrole::regrole, d.defaclnamespace::regnamespace, d.defaclobjtype, d.defaclacl
      from pg_default_acl d order by 1, 2, 3"
}

# --- (b) the upgrade --------------------------------------------------------------------------
log "upgrading it with supabase migration up (current migrations)"
(cd "${ROOT}" && "${CLI}" migration up --db-url "${URL}?sslmode=disable" >"${WORK}/migrate.log" 2>&1) \
  || { cat "${WORK}/migrate.log" >&2; die "the upgrade failed"; }

# --- (c) checks on the upgraded database ------------------------------------------------------
failed=0
after="$(snapshot)"
if [[ "${before}" != "${after}" ]]; then
  log "rows changed by the upgrade:"
  diff -u <(echo "${before}") <(echo "${after}") >&2 || true
  failed=1
else
  log "every row is still there ($(echo "${before}" | awk -F'|' 'NR < 3 { printf "%s%s %s", sep, $2, $1; sep = ", " }'))"
fi
# The backfilled token counts are what the insert trigger sets: the count, the running sum.
off="$(q <<'SQL'
select count(*) from public.ai_conversation_messages m
 where m.tokens <> private.message_tokens(m.role, m.content, m.metadata)
    or m.tokens_before <> (select coalesce(sum(p.tokens), 0) from public.ai_conversation_messages p
                            where p.conversation_id = m.conversation_id and p.seq < m.seq
                              and not private.is_summary(p.role, p.metadata));
SQL
)"
if [[ "${off}" != "0" ]]; then
  log "${off} messages have token counts the trigger would not have set"
  failed=1
fi
# The infinite timestamps were repaired (20261202100100_finite_timestamps.sql), not kept nor dropped.
repaired="$(q <<'SQL'
select isfinite(c.created_at) and isfinite(c.expires_at)
       and c.expires_at <= now() + make_interval(hours => (select s.max_ttl_hours from public.ai_conversation_settings s))
       and m.created_at = c.created_at
  from public.ai_conversations c join public.ai_conversation_messages m using (conversation_id)
 where c.conversation_id = 'upg-infinite'
SQL
)"
if [[ "${repaired}" != "t" ]]; then
  log "the conversation with infinite timestamps was not repaired by the upgrade (got '${repaired}')"
  failed=1
else
  log "the conversation with infinite timestamps was repaired (finite, within max_ttl_hours)"
fi

# The default privileges are what the platform gives a database before any migration (a database
# of the same cluster with the bootstrap only), whatever release 2 did to them.
q -c "create database bootstrap_only" >/dev/null
psql "${URL%/*}/bootstrap_only" -qX -v ON_ERROR_STOP=1 -f "${ROOT}/supabase/platform/bootstrap.sql" >/dev/null
if [[ "$(default_acls postgres)" != "$(default_acls bootstrap_only)" ]]; then
  log "the default privileges after the upgrade are not the platform's:"
  diff -u --label platform <(default_acls bootstrap_only) --label upgraded <(default_acls postgres) >&2 || true
  failed=1
else
  log "the default privileges are the platform's (release 2 changed them; the upgrade restores them)"
fi
q -c "drop database bootstrap_only" >/dev/null

# Normalised schema: no comments, blank lines or SET lines; not what legitimately differs
# (the migration history, cron job ids and run history).
dump_schema() {
  pg_dump "${URL}" --schema-only --no-owner \
      --exclude-schema=supabase_migrations --exclude-schema=tests \
    | grep -vE '^(--|SET |SELECT pg_catalog\.set_config|\\restrict|\\unrestrict)' \
    | grep -v '^[[:space:]]*$'
}
dump_schema > "${WORK}/upgraded.sql"

log "running the pgTAP suite on the upgraded database"
if ! STACK_PORT="${PORT}" make -s -C "${ROOT}" test-db >"${WORK}/pgtap.log" 2>&1; then
  cat "${WORK}/pgtap.log" >&2
  log "the pgTAP suite fails on the upgraded database"
  failed=1
fi

log "building a fresh database from the current migrations"
stack_released down >/dev/null
rm -rf "$(stack_released datadir)"
stack_current up >/dev/null
dump_schema > "${WORK}/fresh.sql"
if ! diff -u --label fresh "${WORK}/fresh.sql" --label upgraded "${WORK}/upgraded.sql" >&2; then
  log "the upgraded schema differs from a fresh one (diff above)"
  failed=1
else
  log "the upgraded schema equals a fresh one ($(wc -l < "${WORK}/fresh.sql") lines of pg_dump)"
fi

exit "${failed}"
