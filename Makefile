# Two commands work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-packages lint typecheck demo test test-fast bench clean

setup: $(STAMP)

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]" -c .ci/constraints.txt
	touch $(STAMP)

# The offline simulated LM, unless a real model is configured ($SYNAPREFECT_MODEL).
demo: setup
	$(PY) -m synaprefect.cli demo --model "$${SYNAPREFECT_MODEL:-simulated}"

system-packages:
	bash .ci/system-packages

# Everything, end-to-end tests included (a Prefect server, workers, PostgreSQL, the UI in
# headless Chromium, a loopback S3 server); the slowest tests are listed at the end.
test: setup system-packages lint typecheck
	$(PY) -m pytest -q --durations=15

# Ruff's checks and formatting (pyproject.toml [tool.ruff]) on the library, the flows,
# the tests and the benchmarks.
lint: setup
	$(PY) -m ruff check synaprefect flows tests benchmarks
	$(PY) -m ruff format --check synaprefect flows tests benchmarks

# mypy on the library (pyproject.toml [tool.mypy]).
typecheck: setup
	$(PY) -m mypy

# The fast part: everything but the end-to-end tests (marked `e2e`).
test-fast: setup
	$(PY) -m pytest -q -m "not e2e"

bench: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]" -c .ci/constraints.txt
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
