# Shortcuts for the daily commands. Each target is one call of `bot-db` or nox:
# the work is done there, never here. `make` alone lists the targets.
#
# bot-db is used directly when it is on PATH (an activated venv with the package);
# otherwise through `nox -s db --`, which needs nothing but nox.

BOT_DB ?= $(shell command -v bot-db >/dev/null 2>&1 && echo bot-db || echo nox -s db --)
NOX ?= nox
# `make db-reset YES=1` skips the question (destructive commands still refuse production).
YES ?=
# `make test ARGS="-k playlists"` passes arguments on to pytest.
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help up down db-up db-shell db-reset db-seed db-migrate db-check db-status test lint docs-check onboarding

help: ## list the targets
	@echo "usage: make TARGET   (bot-db runs as: $(BOT_DB))"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## database up, then the health check (fails loudly when it fails)
	$(BOT_DB) up
	@$(BOT_DB) check || { echo "make up: the database did not pass the health check; the line above says why, docs/troubleshooting.md says what to do" >&2; exit 1; }

down: ## stop the database, keep its data
	$(BOT_DB) down

db-up: ## start the database (migrated, seeded), without the extra check
	$(BOT_DB) up

db-shell: ## psql on the database, with the project's .psqlrc
	$(BOT_DB) shell

db-reset: ## drop the database and rebuild it from migrations and seeds (asks first)
	$(BOT_DB) reset $(if $(YES),--yes)

db-seed: ## apply seeds/ again (an idempotent upsert)
	$(BOT_DB) seed

db-migrate: ## migrate to head
	$(BOT_DB) migrate

db-check: ## health probe: exit 1 with one line saying what to do
	$(BOT_DB) check

db-status: ## server, schema revision and row counts
	$(BOT_DB) status

test: ## the test suite (nox -s tests), as CI runs it
	$(NOX) -s tests $(if $(ARGS),-- $(ARGS))

lint: ## ruff, mypy and actionlint (nox -s lint)
	$(NOX) -s lint

docs-check: ## check the docs against the code (nox -s docs-check)
	$(NOX) -s docs-check

onboarding: ## the onboarding checklist (nox -s onboarding)
	$(NOX) -s onboarding
