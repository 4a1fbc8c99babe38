PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The code held to ruff so far; the rest of the tree joins as each package is cleaned up.
LINTED := proxy tapecontract.py tests/test_http_wire*.py tests/test_record*.py tests/test_replay*.py \
	tests/test_session_tools.py tests/test_audit.py tests/test_plugin.py tests/test_tapecontract.py tests/test_layout.py \
	tests/proxy_helpers.py tests/replay_helpers.py tests/wire_helpers.py

.PHONY: install lint test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
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
