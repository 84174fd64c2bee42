# The front door. `make run` serves the product with a demo; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
PORT ?= 8000
ARGS ?=
# pytest-xdist workers of `make test` (each with its own test database and services);
# TEST_WORKERS=0 runs in this process, the quicker way for a file or two.
TEST_WORKERS ?= 2
VENV := .venv
PY := $(VENV)/bin/python
DEVSTACK_DEV := $(PY) -m devstack run --profile dev --
DEVSTACK_TEST := $(PY) -m devstack run --profile test --

.PHONY: run test lint bench deps assets chromium xmlsec1 clean manage

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5,<1"
	@$(VENV)/bin/uv sync --frozen --quiet
	@touch $@

node_modules/.installed: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

frontend/dist/.built: node_modules/.installed frontend/src/app.css frontend/src/favicon.svg frontend/src/dashboard.js frontend/src/finance.js frontend/build.mjs $(shell find templates */templates -name '*.html' 2>/dev/null)
	@npm run --silent build
	@touch $@

deps: $(VENV)/.installed node_modules/.installed

# Browser journeys drive Debian's Chromium through Playwright (no browser download).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Chromium (Debian package) for the browser tests..."; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# SAML single sign-on checks signatures with Debian's xmlsec1 program (pysaml2 calls it).
xmlsec1:
	@command -v xmlsec1 >/dev/null 2>&1 || { \
	  echo "Installing xmlsec1 (Debian package) for SAML single sign-on..."; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq xmlsec1 >/dev/null; }

assets: frontend/dist/.built

## make run: set up, start PostgreSQL/Redis/OpenBao under .devstack/, migrate, seed, serve
## (with a Celery worker, and its periodic-task scheduler, beside the development server).
run manage: export PUBLIC_PORT = $(PORT)
run: deps assets xmlsec1
	@$(DEVSTACK_DEV) bash -c 'set -e; \
	  $(PY) manage.py migrate_schemas --executor=standard -v 0; \
	  $(PY) manage.py build_tenant_snapshot; \
	  $(PY) manage.py refill_spare_schemas; \
	  $(PY) manage.py pii_reencrypt >/dev/null; \
	  $(PY) manage.py seed_demo; \
	  $(PY) manage.py billing_sync_catalog --local-webhook http://localhost:$(PORT)/billing/webhooks/stripe/ \
	    --local-paddle-webhook http://localhost:$(PORT)/billing/webhooks/paddle/; \
	  $(PY) -m devstack.child -- $(PY) -m celery -A config worker --pool solo --beat \
	    --schedule .devstack/celerybeat-schedule \
	    --loglevel WARNING --without-gossip --without-mingle & \
	  exec $(PY) manage.py runserver 0.0.0.0:$(PORT)'

## make test: set up, lint, then the whole pytest suite against real services, on
## TEST_WORKERS processes; an idle one takes over tests still queued for a busy one.
test: deps assets chromium xmlsec1 lint
	@$(DEVSTACK_TEST) $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(ARGS)

lint: deps
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy .
	@$(VENV)/bin/lint-imports

## make bench: benchmarks beside their baselines; tables go to docs/benchmarks.md.
bench: deps assets
	@$(DEVSTACK_TEST) bash -c 'set -e; $(PY) bench/provision.py $(ARGS); $(PY) bench/routing.py $(ARGS); $(PY) bench/pii_envelope.py $(ARGS); $(PY) bench/pii_keys.py $(ARGS); $(PY) bench/search.py $(ARGS); $(PY) bench/billing.py $(ARGS)'

clean:
	rm -rf .devstack/test-* .staticfiles frontend/dist

## make manage ARGS="list_tenants": a manage.py command against the dev services
## (joins a running `make run`, or starts the services just for the command).
manage: deps
	@$(DEVSTACK_DEV) $(PY) manage.py $(ARGS)
