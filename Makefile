PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install lint
	$(BIN)/python -m pytest -q
	$(BIN)/tradetape audit fixtures/

demo: install
	$(BIN)/tradetape demo

bench: install
	$(BIN)/python bench/proxy_overhead.py
	$(BIN)/python bench/replay_load.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
