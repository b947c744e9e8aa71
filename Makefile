# The two commands of the README: `make run` and `make test`.
#
# Each command installs only its own set of packages into .venv, and again only when a
# requirements file of that set changes:
#   make run              requirements-local.txt  (requirements.txt + the local host's server)
#   make test, make bench requirements-dev.txt    (the local set + test tools)
# Sets are installed with uv, bootstrapped from PyPI into the venv; if uv cannot be had,
# with pip (slower, same result).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7071
ARGS ?=
# Three workers (pytest-xdist) on two cores: the suite mostly waits on the servers it
# starts (two workers kept the cores ~60% busy), so a third finishes it sooner
# (docs/testing.md, Timing). Each test still prints its own PASSED/FAILED line.
PYTEST_ARGS ?= -n 3 -v
UV_VERSION := 0.13.9
# uv itself is kept between venvs, one copy per version, like any package cache (safe to delete).
UV_TOOL_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sensor-pipeline/uv-$(UV_VERSION)

LOCAL_SET := requirements.txt requirements-local.txt
DEV_SET := $(LOCAL_SET) requirements-dev.txt

.PHONY: run test lint bench backfill mutate smoke func-start provision install install-dev clean

# Without pip: ensurepip costs seconds of CPU; uv adds pip (for editors' pip tasks) in well under one.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

# $(call install,FILE): install one requirements file into the venv, then mark the set done.
# uv comes from UV_TOOL_DIR, else from PyPI through the system's pip (`pip --python`), else
# through the venv's own pip.
define install
	@if [ ! -x $(BIN)/uv ] && [ -x "$(UV_TOOL_DIR)/uv" ]; then \
	  cp "$(UV_TOOL_DIR)/uv" $(BIN)/uv && $(BIN)/uv --version >/dev/null 2>&1 || rm -f $(BIN)/uv; fi
	@if [ ! -x $(BIN)/uv ]; then \
	  $(PYTHON) -m pip --python $(BIN)/python install --quiet --disable-pip-version-check uv==$(UV_VERSION) 2>/dev/null \
	  || { $(BIN)/python -m ensurepip --default-pip >/dev/null \
	       && $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); } \
	  || echo "make: could not install uv from PyPI; installing with pip instead (slower)"; \
	  if [ -x $(BIN)/uv ]; then mkdir -p "$(UV_TOOL_DIR)" 2>/dev/null \
	    && cp $(BIN)/uv "$(UV_TOOL_DIR)/uv.$$$$" && mv "$(UV_TOOL_DIR)/uv.$$$$" "$(UV_TOOL_DIR)/uv" || true; fi; \
	fi
	@if [ -x $(BIN)/uv ]; then \
	  echo "make: installing $(1) with uv"; \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python pip -r $(1); \
	else \
	  echo "make: installing $(1) with pip"; \
	  { $(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --default-pip >/dev/null; } \
	  && $(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(1); \
	fi
	@touch $@
endef

# One stamp per set, so that each command's set is checked against its own files.
$(VENV)/.installed-local: $(LOCAL_SET) | $(BIN)/python
	$(call install,requirements-local.txt)

# The dev set contains the local set: mark both, so `make run` after `make test` installs nothing.
$(VENV)/.installed-dev: $(DEV_SET) | $(BIN)/python
	$(call install,requirements-dev.txt)
	@touch $(VENV)/.installed-local

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed-local
install-dev: $(VENV)/.installed-dev node_modules/.installed

## run: the whole pipeline locally on the embedded store, dashboard on http://localhost:$(PORT)/
run: $(VENV)/.installed-local
	$(BIN)/python -m local_host --port $(PORT) $(ARGS)

## test: ruff (lint and formatting), then every test (store contract on SQLite and the Cosmos-compatible server)
test: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: every benchmark side by side (a few minutes); writes docs/benchmarks.md
bench: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/python -m bench.run

## backfill: build the time windows (docs/rollups.md) of readings already stored; idempotent
backfill: $(VENV)/.installed-local
	$(BIN)/python -m summariser.backfill $(ARGS)

## mutate: break each promise on purpose (tests/mutation/catalogue.py); fails if a test misses one
mutate: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/python -m tests.mutation.run $(ARGS)

## smoke: check a deployment end to end (standard library only): make smoke URL=https://<app>.azurewebsites.net [KEY=<function key>]
smoke:
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://<app>.azurewebsites.net [KEY=<function key>]"; exit 2; }
	@SMOKE_FUNCTION_KEY="$(or $(KEY),$(SMOKE_FUNCTION_KEY))" $(PYTHON) -m infra.smoke "$(URL)" $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## provision: create the database and the four containers in Cosmos DB, if missing (reads local.settings.json)
provision: $(VENV)/.installed-local
	@test -f local.settings.json || cp local.settings.json.example local.settings.json
	$(BIN)/python -m infra.provision_local

## func-start: the real Functions host with Azurite and the Cosmos DB emulator (needs Core Tools)
func-start: $(VENV)/.installed-local node_modules/.installed
	@command -v func >/dev/null || { echo "func (Azure Functions Core Tools 4) is not installed: see README"; exit 2; }
	@$(MAKE) --no-print-directory provision
	node node_modules/.bin/azurite --silent --disableTelemetry --inMemoryPersistence \
	  --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 & \
	  trap "kill $$!" EXIT; . $(BIN)/activate && func start --port $(PORT)

clean:
	rm -rf $(VENV) node_modules .data test-artifacts .pytest_cache .ruff_cache
