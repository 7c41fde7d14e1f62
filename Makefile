# netkort: two commands set up everything on a fresh machine.
#   make run   builds the venv if needed, builds a release from the data, writes maps and exports,
#              and serves on 127.0.0.1:8000
#   make test  builds the venv if needed and runs the whole suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.netkort-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
OUT ?= out

.PHONY: setup run build test lint bench clean

setup: $(STAMP)

# The venv is rebuilt when the pinned requirements or the project metadata change.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --only-binary=:all: -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

build: setup
	$(BIN)/netkort build
	$(BIN)/netkort info

# Exports and maps for the newest pool rules land in $(OUT)/; then the service starts.
run: build
	$(BIN)/netkort export --what all --rules latest -o $(OUT)/netkort.gpkg --quiet
	$(BIN)/netkort export --what eligible-addresses --rules latest -o $(OUT)/eligible-addresses.csv --quiet
	$(BIN)/netkort map -o $(OUT)/maps --quiet
	@echo "Exports in $(OUT)/, map pages in $(OUT)/maps/index.html; serving on http://$(HOST):$(PORT)/"
	$(BIN)/netkort serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy coverage service maps

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var out .pytest_cache
