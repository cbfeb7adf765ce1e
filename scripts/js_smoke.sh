#!/usr/bin/env bash
# The JavaScript tests (tests/js, node's built-in runner) against a real server: the official
# openai SDK on /v1 and the AI SDK's `ai` package on /api/chat. Serves the API on a free loopback
# port (auth required, the offline model a little slowed, so a reply can be aborted mid-way), runs
# `node --test`, stops the server. The api_key is the Supabase CLI's well-known local service_role JWT (see docs/openai.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
PY=.venv/bin/python
DATABASE_URL="${DATABASE_URL:-$(scripts/stack.sh url)}"
PORT="$(${PY} -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
KEY="$(${PY} -c 'from app.config import LOCAL_SERVICE_ROLE_KEY; print(LOCAL_SERVICE_ROLE_KEY)')"
LOG="$(mktemp)"
API_AUTH=required API_PORT="${PORT}" DATABASE_URL="${DATABASE_URL}" LLM_OFFLINE_DELAY_SECONDS=0.02 \
  ${PY} -m app serve >"${LOG}" 2>&1 &
SERVER=$!
trap 'kill "${SERVER}" 2>/dev/null || true; wait "${SERVER}" 2>/dev/null || true; rm -f "${LOG}"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:${PORT}/health" >/dev/null 2>&1 && break
  kill -0 "${SERVER}" 2>/dev/null || { cat "${LOG}"; exit 1; }
  sleep 0.1
done
OPENAI_BASE_URL="http://127.0.0.1:${PORT}/v1" OPENAI_API_KEY="${KEY}" \
  API_BASE_URL="http://127.0.0.1:${PORT}" API_KEY="${KEY}" node --test tests/js/
