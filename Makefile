PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SEEDS ?= 20
STEPS ?= 200
FIRST_SEED ?= 1

.PHONY: install test demo bench chaos clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q
	$(BIN)/tradetape audit fixtures/

demo: install
	$(BIN)/tradetape demo

# the long chaos walk over the trader, the clients and both paper exchanges (tests/chaos_walk.py)
chaos: install
	cd tests && ../$(BIN)/python chaos_walk.py --seeds $(SEEDS) --steps $(STEPS) --first-seed $(FIRST_SEED)

bench: install
	$(BIN)/python bench/proxy_overhead.py
	$(BIN)/python bench/replay_load.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
