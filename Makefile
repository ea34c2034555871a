# gpt-tui: `make quickstart` trains the built-in default, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first, pinned: a local CPU wheel on CPU-only machines, the CUDA build from PyPI elsewhere.
TORCH  ?= torch==2.13.0

.PHONY: setup quickstart test bench clean

$(BIN)/gpt-tui: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

setup: $(BIN)/gpt-tui

quickstart: setup
	$(BIN)/gpt-tui run --preset quickstart --wait

test: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=30

bench: setup
	$(BIN)/python benchmarks/store_bench.py

clean:
	rm -rf $(VENV) *.egg-info
