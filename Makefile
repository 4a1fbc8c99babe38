PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The official SDKs need Python >= 3.13: they get their own environment (docs/interop.md).
INTEROP_VENV := .venv-interop
INTEROP_STAMP := $(INTEROP_VENV)/.installed
SDK_PYTHON = $(PYTHON) tools/interop/find_python.py

SEEDS ?= 20
STEPS ?= 200
FIRST_SEED ?= 1

.PHONY: install lint test interop demo bench chaos clean

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
	$(BIN)/python -m pytest -q -rs
	$(BIN)/tradetape audit fixtures/
	@$(SDK_PYTHON) >/dev/null; found=$$?; \
	if [ $$found = 0 ]; then $(MAKE) --no-print-directory interop; \
	elif [ $$found = 1 ]; then echo "interop: SKIPPED: no Python >= 3.13 found (INTEROP_PYTHON, python3.13, python3.14, python3, pyenv versions); the official SDKs need one"; \
	else exit $$found; fi

interop: install
	@$(SDK_PYTHON) >/dev/null || { echo "interop: no Python >= 3.13 found; set INTEROP_PYTHON=/path/to/python3.13" >&2; exit 1; }
	@$(MAKE) --no-print-directory -s $(INTEROP_STAMP)
	$(BIN)/python tools/interop/run.py --sdk-python $(INTEROP_VENV)/bin/python

$(INTEROP_STAMP): tools/interop/requirements.txt
	test -x $(INTEROP_VENV)/bin/python || $$($(SDK_PYTHON)) -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INTEROP_VENV)/bin/python -m pip install --quiet -r tools/interop/requirements.txt
	touch $(INTEROP_STAMP)

demo: install
	$(BIN)/tradetape demo

# the long chaos walk over the trader, the clients and both paper exchanges (tests/chaos_walk.py)
chaos: install
	cd tests && ../$(BIN)/python chaos_walk.py --seeds $(SEEDS) --steps $(STEPS) --first-seed $(FIRST_SEED)

bench: install
	$(BIN)/python bench/proxy_overhead.py
	$(BIN)/python bench/interleaved.py
	$(BIN)/python bench/replay_load.py
	$(BIN)/python bench/ws_proxy.py
	$(BIN)/python bench/ws_feeds.py
	$(BIN)/python bench/tick_to_trade.py
	$(BIN)/python bench/pre_commit.py

clean:
	rm -rf $(VENV) $(INTEROP_VENV) build *.egg-info .pytest_cache
