# The two commands of the README. Both bootstrap a local .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv test lint typecheck imports unit demo dist clean bench chaos

help:  ## show the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# constraints.txt pins every package to the versions CI last passed with (refresh: see CONTRIBUTING.md).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the project with its dev tools

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check reconciler tests benchmarks
	$(BIN)/ruff format --check reconciler tests benchmarks

typecheck: $(STAMP)  ## mypy --strict on the package
	$(BIN)/mypy reconciler

imports: $(STAMP)  ## import-linter layer contracts
	$(BIN)/lint-imports

unit: $(STAMP)  ## the test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck imports unit  ## every check: ruff, mypy --strict, import-linter, pytest

chaos: $(STAMP)  ## the whole chaos suite (60 SIGKILL points; make test runs a sample of 10)
	SEPM_CHAOS_POINTS=$${SEPM_CHAOS_POINTS:-60} $(BIN)/python -m pytest tests/chaos -s -p no:randomly $(PYTEST_ARGS)

demo: $(STAMP)  ## the main job on the embedded simulator
	$(BIN)/sepm-reconciler demo

dist: $(STAMP)  ## build the sdist and the wheel into dist/ (pip install dist/*.whl anywhere)
	rm -rf dist build
	$(BIN)/python -m build --no-isolation --outdir dist .
	@ls -1 dist

bench: $(STAMP)  ## run the benchmarks in benchmarks/
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info .sepm-reconciler
