# Conversation storage for AI services, Supabase-native. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := scripts/stack.sh
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never

.PHONY: help deps run db-up db-down db-reset test test-db test-schemas test-upgrade test-uninstall test-py test-js bench lint fmt

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

deps: ## install what is missing: OS packages (as root), the Python env (uv), the npm packages (Supabase CLI, the web client's libraries)
	@$(STACK) deps

db-up: deps ## start the local database (or use DATABASE_URL), bootstrap it, apply migrations
	@$(STACK) up

db-down: ## stop the local database
	@$(STACK) down

db-reset: deps ## wipe the local database and rebuild it from the migrations
	@$(STACK) reset

run: db-up ## serve the API on 127.0.0.1:8001 (auth disabled: loopback only)
	API_AUTH=$${API_AUTH:-disabled} DATABASE_URL="$$($(STACK) url)" $(PY) -m app serve

test: db-up test-db test-schemas test-upgrade test-uninstall test-py test-js ## set everything up, then the pgTAP suite, the schema drift, upgrade and install/uninstall tests, pytest and the JS SDK smoke test

test-db: ## pgTAP tests in supabase/tests (pg_prove), after the test-only helpers in supabase/tests/helpers
	psql "$$($(STACK) url)" -qX -v ON_ERROR_STOP=1 -f supabase/tests/helpers/tests_schema.sql
	pg_prove --failures --dbname "$$($(STACK) url)" supabase/tests/*.sql

test-schemas: deps ## build a database from supabase/schemas and one from the migrations, on a throwaway cluster; their schemas must be equal
	scripts/schema_drift_test.sh

test-upgrade: deps ## upgrade a database of every release (supabase/releases.txt) to the current migrations, on a throwaway cluster; compare with a fresh one
	scripts/upgrade_test.sh

test-uninstall: deps ## install the store next to an unrelated app, run supabase/uninstall.sql, check the app's database is as it was (throwaway cluster)
	scripts/uninstall_test.sh

test-py: ## pytest: integration and API tests against the real database
	DATABASE_URL="$$($(STACK) url)" $(PY) -m pytest

test-js: ## the official JavaScript openai SDK against a server started for it (tests/js, node --test)
	DATABASE_URL="$$($(STACK) url)" scripts/js_smoke.sh

bench: deps ## benchmarks on throwaway clusters: SQL, organise, broadcast, HTTP API and its floor, export, chat, the OpenAI SDK, durable replies, our layers, realtime (~40 min; BENCH_QUICK=1: ~8 min; BENCH_ONLY=db,organise,broadcast,http,export,chat,openai,durable,layers,realtime,transport)
	$(PY) -m bench

lint: deps ## ruff (lint and format check), mypy, import-linter (the Layout's layers, no cycles)
	.venv/bin/ruff check app tests bench
	.venv/bin/ruff format --check app tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

fmt: deps ## format and autofix
	.venv/bin/ruff format app tests bench
	.venv/bin/ruff check --fix app tests bench
