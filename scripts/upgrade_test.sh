#!/usr/bin/env bash
# Upgrade test: a database of every release upgraded to the current migrations.
#
#   scripts/upgrade_test.sh
#
# The releases are the commits listed in supabase/releases.txt (UPGRADE_FROM="<commit> ..."
# picks some). On a throwaway cluster (scripts/lib/throwaway.sh; UPGRADE_PORT, default a
# free port) it first builds a fresh database from the current migrations and dumps its
# schema; then, for each release, it (a) builds a database from the migrations exactly as
# released, read with `git show`, and fills it with data through that release's own functions;
# (b) upgrades it with `supabase migration up` and the current supabase/migrations; and checks
# that (i) its schema equals the fresh one's (pg_dump --schema-only, normalised as dump_schema
# says; a diff on mismatch), (ii) every row of every table the release has is still there, by
# the columns the release has (counts and checksums), and what the upgrade backfills or repairs
# is what the current rules would have written, (iii) the pgTAP suite passes on it, (iv) its
# default privileges are the platform's (the second release changed them for every later
# function, 20261209410000 gives them back). Exits non-zero on any mismatch; every cluster is
# stopped and removed whatever happens.
set -euo pipefail

LOG_TAG="upgrade"
[[ -n "${UPGRADE_PORT:-}" ]] && THROWAWAY_PORT="${UPGRADE_PORT}"
# shellcheck source=scripts/lib/throwaway.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/throwaway.sh"

if [[ -n "${UPGRADE_FROM:-}" ]]; then
  read -ra releases <<< "${UPGRADE_FROM}"
else
  mapfile -t releases < <(grep -vE '^[[:space:]]*(#|$)' "${ROOT}/supabase/releases.txt" | awk '{print $1}')
fi
[[ ${#releases[@]} -gt 0 ]] || die "no releases in supabase/releases.txt"
for release in "${releases[@]}"; do
  git -C "${ROOT}" rev-parse --verify --quiet "${release}^{commit}" >/dev/null \
    || die "release commit ${release} is not in this clone (a shallow clone? fetch it): cannot test the upgrade"
done

q() { psql "${THROWAWAY_URL}" -qAtX -v ON_ERROR_STOP=1 "$@"; }

# --- the fresh database, built once: what every upgraded one must equal --------------------------
fresh="$(new_build fresh)"
cp "${ROOT}"/supabase/migrations/*.sql "${fresh}/supabase/migrations/"
log "building a fresh database from the current migrations (port ${THROWAWAY_PORT})"
build "${fresh}"
dump_schema > "${THROWAWAY_WORK}/fresh.sql"

# Default privileges (pg_default_acl, by role and schema name): what the platform gives a database
# before any migration, read from a database of the same cluster with the bootstrap only. Every
# upgraded database must have exactly these, whatever a release did to them.
default_acls() {
  psql "${THROWAWAY_URL%/*}/$1" -qAtX -v ON_ERROR_STOP=1 -c "
    select d.defaclrole::regrole, d.defaclnamespace::regnamespace, d.defaclobjtype, d.defaclacl
      from pg_catalog.pg_default_acl d order by 1, 2, 3"
}
q -c "create database bootstrap_only" >/dev/null
psql "${THROWAWAY_URL%/*}/bootstrap_only" -qX -v ON_ERROR_STOP=1 -f "${ROOT}/supabase/platform/bootstrap.sql" >/dev/null
default_acls bootstrap_only > "${THROWAWAY_WORK}/platform_acls.txt"
discard "${fresh}"

# --- data, through the release's own functions ----------------------------------------------------
# What every release can store (the first release's functions).
fill_first_release() {
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
SQL
}

# What the second release added: organising, summaries, a keyed chat turn, a fork, items of a
# response, ratings, prices and the usage ledger, a legal hold, an erasure.
fill_second_release() {
  q >/dev/null <<'SQL'
select public.update_conversation('upg-alice-1', '{"title": "Upgrade trip", "tags": ["travel", "upgrade"], "pinned": true}');
select public.update_conversation('upg-alice-3', '{"archived": true, "metadata_patch": {"n": null, "topic": "x"}}');
select public.append_summary('upg-alice-2', 'what alice-2 said so far', 1, 3, 'm-1', 12);
select public.begin_chat_turn('a question with a turn key', 'upg-bob', null, '{}', 'upg-turn-1', 10, '{}', false, 2000);
select public.append_message('upg-bob', 'tool', '{"hits": 3}', '{"args": {"q": "x"}}', null, 'upg-turn-1', 1);
select public.append_message('upg-bob', 'assistant', 'the answer',
                             '{"model": "m-1", "tokens": {"prompt": 40, "completion": 7}}', null, 'upg-turn-1');
select public.fork_conversation('upg-alice-1', 3, 'upg-alice-1-fork', 'A fork');
select public.append_messages('upg-anon', '[
  {"role": "user", "content": "hi", "idempotency_key": "msg_00000000000000000000000000000001",
   "metadata": {"openai": {"type": "message", "response_id": "resp_upg_1"}}},
  {"role": "assistant", "content": "hello", "metadata": {"openai": {"type": "message", "response_id": "resp_upg_1"}}}]');
select public.set_message_feedback('upg-alice-2', 2, 1, 'helpful');  -- the service's rating
insert into public.ai_message_feedback (conversation_id, seq, user_id, rating)  -- alice's own
values ('upg-alice-2', 2, '7f1e0000-0000-4000-8000-00000000a11c', -1);
insert into public.ai_model_prices (model, prompt_per_million, completion_per_million) values ('m-1', 0.5, 1.5);
insert into public.ai_usage_daily (user_id, day, model, messages, prompt_tokens, completion_tokens)
values ('7f1e0000-0000-4000-8000-00000000a11c', current_date - 30, 'm-1', 12, 3400, 560),
       (null, current_date - 30, '', 3, 0, 0);
select public.create_conversation('upg-held', '7f1e0000-0000-4000-8000-000000000b0b', '{"case": "C-1"}');
select public.append_message('upg-held', 'user', 'keep this');
select public.update_conversation('upg-held', '{"legal_hold": true}');
select public.create_conversation('upg-carol', '7f1e0000-0000-4000-8000-00000000c0c0');
select public.append_message('upg-carol', 'user', 'erase me');
select public.erase_user_data('7f1e0000-0000-4000-8000-00000000c0c0');
SQL
}

# What the first release let the dashboard store and a later migration refuses: infinite
# timestamps. Kept out of the snapshot (the upgrade repairs them); checked after the upgrade.
fill_infinite_timestamps() {
  q >/dev/null <<'SQL'
insert into public.ai_conversations (conversation_id, created_at, expires_at)
values ('upg-infinite', '-infinity', 'infinity');
insert into public.ai_conversation_messages (conversation_id, role, content, created_at)
values ('upg-infinite', 'user', 'from the dashboard', '-infinity');
SQL
}

# --- rows, by content ---------------------------------------------------------------------------
# Every table the release has in public and private, by the columns the release has (a later
# release may add columns, with their defaults or a backfill, but never change what a released
# column holds): count and checksum of the rows' JSON, in a stable order. Left out: the repaired
# conversation (checked on its own), and what pg_cron's minute roll-up writes while the test
# runs: its mark (private.usage_rollup) and the ledger rows of the last two days (the fill's own
# ledger rows are a month old).
snapshot_sql() {
  q <<'SQL'
select string_agg(format(
         $f$select %L, count(*), md5(coalesce(string_agg(r.j, '|' order by r.j), ''))
              from (select (select jsonb_object_agg(e.key, e.value) from jsonb_each(to_jsonb(t)) e
                             where e.key in (%s))::text as j
                      from %s t where %s) r;$f$,
         c.oid::regclass, cols.list, c.oid::regclass,
         case c.oid::regclass::text
           when 'ai_conversations' then $$t.conversation_id <> 'upg-infinite'$$
           when 'ai_conversation_messages' then $$t.conversation_id <> 'upg-infinite'$$
           when 'ai_usage_daily' then $$t.day < current_date - 1$$
           else 'true' end),
       e'\n' order by c.oid::regclass::text)
  from pg_class c
  cross join lateral (select string_agg(quote_literal(a.attname), ', ' order by a.attnum) as list
                        from pg_attribute a
                       where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) cols
 where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace) and c.relkind = 'r'
   and c.oid::regclass::text <> 'private.usage_rollup'
SQL
}

failed=0
fail() { log "${release}: $*"; release_failed=1; failed=1; }
check() {  # check DESCRIPTION SQL: the SQL answers t, or the release fails with DESCRIPTION
  local got
  got="$(q -c "$2")"
  [[ "${got}" == "t" ]] || fail "$1 (got '${got}')"
}

for release in "${releases[@]}"; do
  release_failed=0
  # --- (a) the database as released, with data ----------------------------------------------------
  released="$(new_build "release-${release}")"
  mapfile -t released_files < <(git -C "${ROOT}" ls-tree --name-only "${release}" supabase/migrations/)
  [[ ${#released_files[@]} -gt 0 ]] || die "no migrations at ${release}"
  for f in "${released_files[@]}"; do
    git -C "${ROOT}" show "${release}:${f}" > "${released}/${f}"
  done
  log "${release}: building a database from the ${#released_files[@]} migrations released there"
  build "${released}"

  fill_first_release
  parts="the first release's data"
  if [[ "$(q -c "select to_regprocedure('public.update_conversation(text, jsonb)') is not null")" == "t" ]]; then
    fill_second_release
    parts="${parts}, the second's"
  fi
  tokens_backfilled="$(q -c "select to_regprocedure('private.message_tokens(text, text, jsonb)') is null")"
  infinite="$(q -c "select to_regprocedure('private.timestamp_in_range(timestamptz)') is null")"
  if [[ "${infinite}" == "t" ]]; then
    fill_infinite_timestamps
    parts="${parts}, infinite timestamps"
  fi
  snapshot_sql > "${THROWAWAY_WORK}/snapshot.sql"
  snapshot() { q -f "${THROWAWAY_WORK}/snapshot.sql"; }
  before="$(snapshot)"
  log "${release}: filled with ${parts}; $(echo "${before}" | awk -F'|' '{ n += $2 } END { print n }') rows in $(echo "${before}" | wc -l) tables"

  # --- (b) the upgrade ------------------------------------------------------------------------------
  (cd "${ROOT}" && "${CLI}" migration up --db-url "${THROWAWAY_URL}?sslmode=disable" >"${THROWAWAY_WORK}/migrate.log" 2>&1) \
    || { cat "${THROWAWAY_WORK}/migrate.log" >&2; die "${release}: the upgrade failed"; }

  # --- (c) checks on the upgraded database ----------------------------------------------------------
  after="$(snapshot)"
  if [[ "${before}" != "${after}" ]]; then
    diff -u --label before <(echo "${before}") --label after <(echo "${after}") >&2 || true
    fail "rows changed by the upgrade (diff above: table|count|checksum)"
  fi
  if [[ "${tokens_backfilled}" == "t" ]]; then
    # Backfilled token counts (20261203100000_message_tokens.sql) are what the insert trigger
    # sets: the count, and the running sum of the earlier messages' that are not summaries.
    check "messages have token counts the trigger would not have set" "
      select count(*) = 0 from public.ai_conversation_messages m
       where m.tokens <> private.message_tokens(m.role, m.content, m.metadata)
          or m.tokens_before <> (select coalesce(sum(p.tokens), 0) from public.ai_conversation_messages p
                                  where p.conversation_id = m.conversation_id and p.seq < m.seq
                                    and not private.is_summary(p.role, p.metadata))"
  fi
  if [[ "${infinite}" == "t" ]]; then
    # Repaired by 20261202100100_finite_timestamps.sql, not kept nor dropped.
    check "the conversation with infinite timestamps was not repaired (finite, within max_ttl_hours)" "
      select isfinite(c.created_at) and isfinite(c.expires_at)
             and c.expires_at <= now() + make_interval(hours => (select s.max_ttl_hours from public.ai_conversation_settings s))
             and m.created_at = c.created_at
        from public.ai_conversations c join public.ai_conversation_messages m using (conversation_id)
       where c.conversation_id = 'upg-infinite'"
  fi
  dump_schema > "${THROWAWAY_WORK}/upgraded.sql"
  if ! same_schema fresh "${THROWAWAY_WORK}/fresh.sql" "upgraded from ${release}" "${THROWAWAY_WORK}/upgraded.sql"; then
    fail "the upgraded schema differs from a fresh one (diff above)"
  fi
  default_acls postgres > "${THROWAWAY_WORK}/upgraded_acls.txt"
  if ! diff -u --label platform "${THROWAWAY_WORK}/platform_acls.txt" \
       --label "upgraded from ${release}" "${THROWAWAY_WORK}/upgraded_acls.txt" >&2; then
    fail "the default privileges after the upgrade are not the platform's (diff above)"
  fi
  if ! STACK_PORT="${THROWAWAY_PORT}" make -s -C "${ROOT}" test-db >"${THROWAWAY_WORK}/pgtap.log" 2>&1; then
    cat "${THROWAWAY_WORK}/pgtap.log" >&2
    fail "the pgTAP suite fails on the upgraded database"
  fi
  [[ ${release_failed} -eq 0 ]] && log "${release}: upgraded: every row kept, the schema of a fresh database, the platform's default privileges, pgTAP passes"
  discard "${released}"
done

exit "${failed}"
