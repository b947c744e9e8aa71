# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7071
ARGS ?=
PYTEST_ARGS ?= -v

.PHONY: run test lint bench func-start clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## run: the whole pipeline locally on the embedded store, dashboard on http://localhost:$(PORT)/
run: $(VENV)/.installed
	$(BIN)/python -m local_host --port $(PORT) $(ARGS)

## test: ruff, then every test (store contract on SQLite and the Cosmos-compatible server)
test: $(VENV)/.installed node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: every benchmark side by side (a few minutes); writes docs/benchmarks.md
bench: $(VENV)/.installed node_modules/.installed
	$(BIN)/python -m bench.run

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

## func-start: the real Functions host with Azurite and the Cosmos DB emulator (needs Core Tools)
func-start: $(VENV)/.installed node_modules/.installed
	@command -v func >/dev/null || { echo "func (Azure Functions Core Tools 4) is not installed: see README"; exit 2; }
	@test -f local.settings.json || cp local.settings.json.example local.settings.json
	node node_modules/.bin/azurite --silent --disableTelemetry --inMemoryPersistence \
	  --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 & \
	  trap "kill $$!" EXIT; . $(BIN)/activate && func start --port $(PORT)

clean:
	rm -rf $(VENV) node_modules .data test-artifacts .pytest_cache .ruff_cache
