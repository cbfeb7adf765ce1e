# Throwaway databases for the tests that build the schema more than one way
# (scripts/upgrade_test.sh, scripts/schema_drift_test.sh). Sourced, not run.
#
# A build is a copy of this project's stack (scripts/stack.sh, supabase/config.toml, the platform
# bootstrap, node_modules) whose supabase/migrations/ holds the SQL to build from: `stack.sh
# reset` then builds it exactly as `make db-reset` does (initdb, the bootstrap, `supabase
# migration up`), in its own data directory, on THROWAWAY_PORT (default: a port free when it
# starts, since a fixed one can be any process's ephemeral port; the dev database is never
# touched). One build runs at a time (pg_cron runs in one database per
# cluster, so builds cannot share a cluster); whatever happens, every build is stopped and
# removed on exit.
#
# The caller sets LOG_TAG and may define on_exit_passed / on_exit_failed messages via log.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
free_port() {
  "$([[ -x "${ROOT}/.venv/bin/python" ]] && echo "${ROOT}/.venv/bin/python" || echo python3)" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
THROWAWAY_PORT="${THROWAWAY_PORT:-$(free_port)}"
THROWAWAY_URL="postgresql://postgres:postgres@127.0.0.1:${THROWAWAY_PORT}/postgres"
CLI="${ROOT}/node_modules/.bin/supabase"
THROWAWAY_WORK="$(mktemp -d)"
THROWAWAY_BUILDS=()

log() { printf '\033[1;34m[%s]\033[0m %s\n' "${LOG_TAG}" "$*" >&2; }
die() { printf '\033[1;31m[%s]\033[0m %s\n' "${LOG_TAG}" "$*" >&2; exit 1; }

throwaway_cleanup() {
  local rc=$? build
  for build in "${THROWAWAY_BUILDS[@]}"; do
    discard "${build}"
  done
  rm -rf "${THROWAWAY_WORK}"
  if [[ ${rc} -eq 0 ]]; then log "passed"; else log "FAILED"; fi
  exit "${rc}"
}
trap throwaway_cleanup EXIT

[[ -x "${CLI}" ]] || die "Supabase CLI missing: run 'make deps'"
if (exec 3<>"/dev/tcp/127.0.0.1/${THROWAWAY_PORT}") 2>/dev/null; then
  die "port ${THROWAWAY_PORT} is already in use; set THROWAWAY_PORT to a free one"
fi

# new_build NAME: an empty build directory (its migrations still to be filled in); prints its path.
new_build() {
  local dir="${THROWAWAY_WORK}/$1"
  mkdir -p "${dir}/scripts" "${dir}/supabase/migrations" "${dir}/supabase/platform" "${dir}/.local"
  cp "${ROOT}/scripts/stack.sh" "${dir}/scripts/"
  cp "${ROOT}/supabase/config.toml" "${dir}/supabase/"
  cp "${ROOT}/supabase/platform/bootstrap.sql" "${dir}/supabase/platform/"
  ln -s "${ROOT}/node_modules" "${dir}/node_modules"
  echo "${dir}"
}

build_stack() {
  local dir="$1"; shift
  STACK_PORT="${THROWAWAY_PORT}" STACK_NAME="$(basename "${dir}")" "${dir}/scripts/stack.sh" "$@"
}

# build DIR: the database of DIR's migrations, up on THROWAWAY_URL (the previous one discarded).
build() {
  THROWAWAY_BUILDS+=("$1")
  build_stack "$1" reset >/dev/null 2>"${THROWAWAY_WORK}/build.log" \
    || { cat "${THROWAWAY_WORK}/build.log" >&2; die "building $(basename "$1") failed"; }
}

# discard DIR: stop its cluster and remove its data directory.
discard() {
  local datadir
  datadir="$(build_stack "$1" datadir 2>/dev/null)" || return 0
  build_stack "$1" down >/dev/null 2>&1 || true
  rm -rf "${datadir}"
}

# dump_schema [URL]: pg_dump --schema-only of the database, normalised for comparison. Left out:
#  * pg_dump's own lines: its comments, SET lines, set_config() and \restrict, blank lines;
#  * schema supabase_migrations: the CLI's record of which files were applied (not the schema);
#  * schema tests: the pgTAP helpers (supabase/tests/helpers), installed by the pgTAP run.
# Owners are not dumped (--no-owner): every object is postgres's in every build.
# Everything else is compared as pg_dump prints it: objects in its dependency-then-name order,
# table columns in their physical order, function bodies verbatim, grants in ACL order.
dump_schema() {
  pg_dump "${1:-${THROWAWAY_URL}}" --schema-only --no-owner \
      --exclude-schema=supabase_migrations --exclude-schema=tests \
    | grep -vE '^(--|SET |SELECT pg_catalog\.set_config|\\restrict|\\unrestrict)' \
    | grep -v '^[[:space:]]*$'
}

# same_schema EXPECTED_LABEL EXPECTED ACTUAL_LABEL ACTUAL: diff two dumps; prints the diff.
same_schema() {
  diff -u --label "$1" "$2" --label "$3" "$4" >&2
}
