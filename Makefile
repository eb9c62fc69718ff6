# rnnlab: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_VERSION := 2.13.0

.PHONY: venv install install-test test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

install: $(PY)
	$(PIP) install --quiet -e .

install-test: $(PY)
	$(PIP) install --quiet -e ".[test]"
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet torch==$(TORCH_VERSION) \
	  || echo "torch==$(TORCH_VERSION) could not be installed: PyTorch parity tests will be skipped"

test: install-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 -q

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: install-test
	$(PY) benchmarks/bench_layers.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .hypothesis
