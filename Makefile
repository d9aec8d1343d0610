# reglab: `make up` runs the dashboard with one worker; `make test` runs every test, `make test-fast`
# the unit tests only (in-process: no server or worker process, no PostgreSQL, no browser).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Pinned here so pip takes the releases this project's machines have on disk instead of resolving
# (and downloading) a newer CUDA build; pyproject.toml keeps a range for everyone else.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1

# The real MNIST files sit beside the checkout on the project's machines and in CI.
ifneq ($(wildcard ../shared/data/MNIST/raw),)
export REGLAB_DATA_DIR ?= $(abspath ../shared/data)
endif

# Tests run in parallel (pytest-xdist), one process per core; TEST_JOBS=N to change. Work stealing:
# a few tests (the browser's, real processes) take far longer than the rest, and an idle process
# takes tests from a busy one's queue instead of waiting.
TEST_JOBS ?= auto

.PHONY: setup up test test-fast lint bench clean

$(VENV)/.installed: pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "reglab needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed

up: setup
	$(BIN)/reglab up

test: setup
	$(BIN)/pytest -n $(TEST_JOBS) --dist worksteal

test-fast: setup
	$(BIN)/pytest tests/unit -n $(TEST_JOBS) --dist worksteal

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) reglab-data test-artifacts .pytest_cache
