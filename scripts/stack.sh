#!/usr/bin/env bash
# The local Supabase database stack without Docker.
#
#   scripts/stack.sh deps     install what is missing (OS packages, Python env, npm packages)
#   scripts/stack.sh up       start the local cluster (unless DATABASE_URL points elsewhere),
#                             bootstrap the platform objects, apply migrations
#   scripts/stack.sh down     stop the local cluster
#   scripts/stack.sh reset    wipe the local cluster and build it again from the migrations
#   scripts/stack.sh url      print the database URL everything uses
#   scripts/stack.sh psql     open psql on it
#
# Mirrors what `supabase start` gives (PostgreSQL on 127.0.0.1:54322, postgres/postgres,
# pg_cron, logical WAL) so the same migrations deploy unchanged with `supabase db push`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PGBIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
# STACK_PORT / STACK_NAME give a second, throwaway cluster (the benchmarks use one).
PORT="${STACK_PORT:-54322}"
LOCAL_URL="postgresql://postgres:postgres@127.0.0.1:${PORT}/postgres"
STATE="${ROOT}/.local"
NAME="${STACK_NAME:-db}"
UV_VERSION="0.13.9"
OS_PACKAGES=(
  "postgresql-${PG_MAJOR}" "postgresql-client-${PG_MAJOR}" "postgresql-contrib"
  "postgresql-${PG_MAJOR}-cron" "postgresql-${PG_MAJOR}-pgtap" "postgresql-${PG_MAJOR}-wal2json"
  "libtap-parser-sourcehandler-pgtap-perl" "wrk" "pgbouncer"
  # The browser tests drive it through Playwright, by its path (no browser is downloaded).
  "chromium"
  # The documentation's examples (run by tests/docs) call the API with them.
  "curl" "jq"
)

log() { printf '\033[1;34m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[stack]\033[0m %s\n' "$*" >&2; exit 1; }

external_db() {
  [[ -z "${STACK_PORT:-}" && -n "${DATABASE_URL:-}" && "${DATABASE_URL}" != "${LOCAL_URL}"* ]]
}
db_url() { if external_db; then echo "${DATABASE_URL}"; else echo "${LOCAL_URL}"; fi; }

# --- dependencies -----------------------------------------------------------------------
missing_os_packages() {
  local missing=() p
  for p in "${OS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

deps() {
  local missing
  missing="$(missing_os_packages)"
  # Node.js may come from elsewhere than Debian (with npm bundled): look for the command.
  command -v npm >/dev/null 2>&1 || missing="${missing} nodejs npm"
  python3 -m venv --help >/dev/null 2>&1 || missing="${missing} python3-venv"
  if [[ -n "${missing// /}" ]]; then
    if [[ "$(id -u)" == 0 ]]; then
      log "installing OS packages: ${missing}"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing} >/dev/null
    else
      die "missing OS packages; run as root: apt-get install ${missing}"
    fi
  fi
  # uv lives in its own small venv so `uv sync` can manage .venv exactly.
  if [[ ! -x "${ROOT}/.tools/bin/uv" ]] || ! "${ROOT}/.tools/bin/uv" --version | grep -q "${UV_VERSION}"; then
    log "installing uv ${UV_VERSION}"
    python3 -m venv "${ROOT}/.tools"
    "${ROOT}/.tools/bin/pip" install -q "uv==${UV_VERSION}"
  fi
  (cd "${ROOT}" && UV_PYTHON_DOWNLOADS=never .tools/bin/uv sync --frozen --quiet)
  # npm records what it installed in node_modules/.package-lock.json: install again whenever
  # package-lock.json is newer (a pull that bumped a pin), not only when node_modules is absent.
  if [[ ! -x "${ROOT}/node_modules/.bin/supabase" || ! -f "${ROOT}/node_modules/.package-lock.json" \
        || "${ROOT}/package-lock.json" -nt "${ROOT}/node_modules/.package-lock.json" ]]; then
    log "installing the pinned npm packages: the Supabase CLI, the openai JS SDK, the web client's libraries (npm ci)"
    (cd "${ROOT}" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# --- local cluster ----------------------------------------------------------------------
as_pg() {
  # PostgreSQL refuses to run as root: run the server tools as the postgres OS user.
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

data_dir() {
  # Project-local by default; when root and the postgres user cannot reach the checkout
  # (a clone under /root, say), fall back to a per-checkout directory it can reach.
  local dir="${STATE}/${NAME}"
  if [[ "$(id -u)" == 0 ]]; then
    mkdir -p "${STATE}"
    if ! runuser -u postgres -- test -x "${STATE}" 2>/dev/null; then
      dir="/var/lib/postgresql/supabase-conversations-$(echo -n "${ROOT}" | md5sum | cut -c1-8)-${NAME}"
    fi
  fi
  echo "${dir}"
}

running() { as_pg "${PGBIN}/pg_ctl" -D "$1" status >/dev/null 2>&1; }

init_cluster() {
  local dir="$1" pw
  log "initialising a cluster in ${dir}"
  mkdir -p "${dir}"
  [[ "$(id -u)" == 0 ]] && chown postgres:postgres "${dir}"
  chmod 700 "${dir}"
  pw="$(mktemp)"; echo postgres > "${pw}"; chmod 644 "${pw}"
  as_pg "${PGBIN}/initdb" -D "${dir}" -U postgres --pwfile="${pw}" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "${pw}"
  as_pg tee -a "${dir}/postgresql.conf" >/dev/null <<EOF

# --- supabase-conversations local stack (what \`supabase start\` configures) ---
listen_addresses = '127.0.0.1'
port = ${PORT}
unix_socket_directories = '${dir}'
max_connections = 200
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
# pg_cron connects over the project-local socket (trusted), not over TCP with a password.
cron.host = '${dir}'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
log_min_messages = warning
EOF
}

up() {
  if external_db; then
    log "DATABASE_URL is set: using it, no local cluster started"
  else
    local dir; dir="$(data_dir)"
    [[ -f "${dir}/PG_VERSION" ]] || init_cluster "${dir}"
    if ! running "${dir}"; then
      log "starting PostgreSQL ${PG_MAJOR} on 127.0.0.1:${PORT}"
      as_pg "${PGBIN}/pg_ctl" -D "${dir}" -l "${dir}/server.log" -w -t 60 start >/dev/null \
        || { tail -20 "${dir}/server.log" >&2; die "PostgreSQL did not start"; }
    fi
  fi
  local url; url="$(db_url)"
  psql "${url}" -qX -v ON_ERROR_STOP=1 -f "${ROOT}/supabase/platform/bootstrap.sql" >/dev/null
  migrate "${url}"
}

migrate() {
  local url="$1" cli="${ROOT}/node_modules/.bin/supabase"
  [[ -x "${cli}" ]] || die "Supabase CLI missing: run 'make deps'"
  log "applying migrations (supabase migration up)"
  # The CLI treats any URL not on the local default port as remote and asks for TLS.
  if [[ "${url}" != *"sslmode="* ]] && ! external_db; then
    url="${url}?sslmode=disable"
  fi
  (cd "${ROOT}" && "${cli}" migration up --db-url "${url}" >/dev/null 2>"${STATE}/migrate-${NAME}.log") \
    || { cat "${STATE}/migrate-${NAME}.log" >&2; die "migrations failed"; }
}

down() {
  external_db && { log "DATABASE_URL points elsewhere: nothing to stop"; return; }
  local dir; dir="$(data_dir)"
  if [[ -f "${dir}/PG_VERSION" ]] && running "${dir}"; then
    log "stopping PostgreSQL"
    as_pg "${PGBIN}/pg_ctl" -D "${dir}" -m fast -w stop >/dev/null
  fi
}

reset() {
  external_db && die "DATABASE_URL points elsewhere: refusing to wipe it (use 'supabase db reset' there)"
  down
  local dir; dir="$(data_dir)"
  log "removing ${dir}"
  rm -rf "${dir}"
  up
}

mkdir -p "${STATE}"
case "${1:-}" in
  deps) deps ;;
  up) up ;;
  down) down ;;
  reset) reset ;;
  url) db_url ;;
  datadir) data_dir ;;
  psql) shift; exec psql "$(db_url)" "$@" ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
