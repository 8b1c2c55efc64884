# `make test` and `make bench` each set up .venv on their own: it is (re)built whenever it is
# missing or pyproject.toml is newer than the stamp below.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --editable '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench run --profile quick -o results/latest.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
