#!/usr/bin/env bash
# Drift test: the schema files (supabase/schemas) against the migrations (supabase/migrations).
#
#   scripts/schema_drift_test.sh
#
# On a throwaway cluster (scripts/lib/throwaway.sh) it builds one database from the current
# migrations and one from the schema files, both on top of supabase/platform/bootstrap.sql and
# both with the Supabase CLI (`supabase migration up`: the schema files are applied as
# migrations of a scratch project, in the order of [db.migrations] schema_paths in
# supabase/config.toml, so they go through the same statement splitter as `supabase db diff`
# gives them). Then it compares their normalised `pg_dump --schema-only` (dump_schema in the
# library says what it leaves out) and exits non-zero, with the diff, when they differ.
#
# What the migrations do that the schema files cannot express (see supabase/schemas/README.md)
# is not in a schema-only dump, except one thing, left out of this comparison only:
#  * ALTER PUBLICATION supabase_realtime ADD TABLE: a publication change (the upgrade test still
#    compares it, between an upgraded database and a fresh one).
set -euo pipefail

LOG_TAG="schemas"
# shellcheck source=scripts/lib/throwaway.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/throwaway.sh"

# The schema files in the order the Supabase CLI applies them: each schema_paths pattern's
# matches sorted, patterns in their order, a file once (its first place); the CLI's default,
# every .sql file under supabase/schemas, when schema_paths is empty.
schema_files() {
  "${ROOT}/.venv/bin/python" - "${ROOT}/supabase" <<'PY'
import glob
import os
import sys
import tomllib

supabase = sys.argv[1]
with open(os.path.join(supabase, "config.toml"), "rb") as f:
    patterns = tomllib.load(f)["db"]["migrations"].get("schema_paths") or ["./schemas/**/*.sql"]
seen: list[str] = []
for pattern in patterns:
    for path in sorted(glob.glob(os.path.join(supabase, pattern), recursive=True)):
        if path not in seen:
            seen.append(path)
print("\n".join(seen))
PY
}

without_publication() { grep -v '^ALTER PUBLICATION supabase_realtime ADD TABLE '; }

fresh="$(new_build fresh)"
cp "${ROOT}"/supabase/migrations/*.sql "${fresh}/supabase/migrations/"
log "building a database from the $(ls "${fresh}/supabase/migrations" | wc -l) migrations (port ${THROWAWAY_PORT})"
build "${fresh}"
dump_schema | without_publication > "${THROWAWAY_WORK}/migrations.sql"
discard "${fresh}"

declared="$(new_build declared)"
mapfile -t files < <(schema_files)
[[ ${#files[@]} -gt 0 ]] || die "no schema files (supabase/schemas/*.sql, or [db.migrations] schema_paths)"
n=0
for f in "${files[@]}"; do
  # Numbered as migrations, in the order above: the CLI applies migrations by version.
  n=$((n + 1))
  cp "${f}" "${declared}/supabase/migrations/$(printf '%014d' "${n}")_$(basename "${f}")"
done
log "building a database from the ${#files[@]} schema files"
build "${declared}"
dump_schema | without_publication > "${THROWAWAY_WORK}/schemas.sql"
discard "${declared}"

if ! same_schema migrations "${THROWAWAY_WORK}/migrations.sql" schemas "${THROWAWAY_WORK}/schemas.sql"; then
  die "the schema files and the migrations build different schemas (diff above: - migrations, + schema files); \
a schema change is an edit of supabase/schemas plus a new migration"
fi
log "the schema files build what the migrations build ($(wc -l < "${THROWAWAY_WORK}/schemas.sql") lines of pg_dump)"
