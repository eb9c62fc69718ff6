# rnnlab: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_VERSION := 2.13.0

DEMO_SECONDS ?= 360

.PHONY: venv install install-test demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

install: $(PY)
	$(PIP) install --quiet -e .

# The main job: fetch Shakespeare, train a char-LSTM for DEMO_SECONDS, sample, save results/demo.
demo: install
	$(VENV)/bin/rnnlab demo --seconds $(DEMO_SECONDS) --out results/demo

install-test: $(PY)
	$(PIP) install --quiet -e ".[test]"
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet torch==$(TORCH_VERSION) \
	  || echo "torch==$(TORCH_VERSION) could not be installed: PyTorch parity tests will be skipped"

test: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m pytest -n 2 -q

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: install-test
	$(PY) benchmarks/bench_layers.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .hypothesis
