# FiLot deployment gate. `make gate` is the main job, `make test` the project's own tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra pytest arguments, e.g. make gate ARGS='-m e2e -n 2'
ARGS ?=
# xdist workers of `make test`: its slow modules mostly wait (heartbeats expiring, targets settling),
# so more workers than cores pay; each module runs whole on one worker (--dist loadfile).
TEST_WORKERS ?= 4

.PHONY: setup gate test sandbox-up sandbox-down sandbox-status bench clean

setup: $(STAMP)
	@bash scripts/setup-debian.sh

$(STAMP): pyproject.toml $(wildcard */__init__.py)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@touch $(STAMP)

## Run all gates against the profile's target (default: the local sandbox), write reports/.
gate: setup
	$(BIN)/python -m pytest $(ARGS)

## The project's own tests (pytester runs of the plugin, sandbox and fault injection).
test: setup
	$(BIN)/python -m pytest -c selftests/pytest.ini selftests -n $(TEST_WORKERS) --dist loadfile $(ARGS)

sandbox-up: setup
	$(BIN)/python -m sandbox up
sandbox-down:
	$(BIN)/python -m sandbox down
sandbox-status:
	$(BIN)/python -m sandbox status

bench: setup
	$(BIN)/python -m benchmarks $(ARGS)

clean: sandbox-down
	rm -rf reports .sandbox
