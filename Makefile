# The two commands of the README:  make run  (dashboard on the demo family)  and  make test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8050
DATASET ?= auto
PIP := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: run test lint train analyze serve data bench clean-venv

# Re-installs only when a requirements file changes (the stamp is newer than both otherwise).
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PIP) -r requirements-test.txt
	@touch $@

# Installs Debian's dataset-fashion-mnist where it can when auto would otherwise fall back to digits (docs/data.md).
data: $(VENV)/.installed
	bash scripts/ensure_data.sh $(PY) $(DATASET)
	$(PY) -m analysis datasets --dataset $(DATASET)

train: data
	$(PY) -m analysis train --model all --profile demo --dataset $(DATASET)

analyze: train
	$(PY) -m analysis analyze --run all

serve: $(VENV)/.installed
	HOST=$(HOST) PORT=$(PORT) $(PY) -m app

run: analyze serve

# ruff: lint rules and formatting (pyproject.toml); part of `make test`, so CI runs it.
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	bash scripts/ensure_test_packages.sh
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/train_throughput.py
	$(PY) bench/analysis_cost.py

clean-venv:
	rm -rf $(VENV)
