# cheershare: `make help` lists the targets.
.DEFAULT_GOAL := help
NPM ?= npm

## help: list the targets
.PHONY: help
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST) | column -t -s ':'

## install: install dependencies (Node 24 comes with them, from the npm registry)
.PHONY: install
install:
	$(NPM) install

## start: the whole stack (embedded PostgreSQL and dev inbox unless DATABASE_URL, REDIS_URL, SMTP_URL are set)
.PHONY: start
start:
	$(NPM) start

## dev: the same as start
.PHONY: dev
dev:
	$(NPM) run dev

## up: the production-like stack with docker compose (needs Docker and a .env with the secrets)
.PHONY: up
up:
	docker compose up -d --build

## down: stop the compose stack (volumes are kept)
.PHONY: down
down:
	docker compose down

## logs: follow the compose stack's logs
.PHONY: logs
logs:
	docker compose logs -f

## task: run a recurring job now, e.g. make task TASK="daily-digest 2026-11-23" or TASK=cleanup
.PHONY: task
task:
	$(NPM) run task -- $(TASK)

## migrate: create the database if needed and apply migrations (safe to run twice)
.PHONY: migrate
migrate:
	$(NPM) run migrate

## api: run the API alone
.PHONY: api
api:
	$(NPM) run start:api

## mailer-worker: run the mailer worker alone
.PHONY: mailer-worker
mailer-worker:
	$(NPM) run start:mailer-worker

## scheduler: run the scheduler (creative processing, digest and cleanup) alone
.PHONY: scheduler
scheduler:
	$(NPM) run start:scheduler

## test: run every test (unit, integration, end to end)
.PHONY: test
test:
	$(NPM) test

## typecheck: tsc --noEmit over the whole workspace
.PHONY: typecheck
typecheck:
	$(NPM) run typecheck

## lint: eslint with type-aware rules
.PHONY: lint
lint:
	$(NPM) run lint

## check: typecheck, lint and test, as CI does
.PHONY: check
check: typecheck lint test
