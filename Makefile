# Two commands on a fresh machine with Python 3.11 and pip:
#   make demo   creates .venv, installs the kit and runs the main job
#   make test   creates .venv, installs the kit with test extras and runs the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export VERTICALKIT_DATA ?= $(abspath ../shared/data)
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test test-all install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -e ".[test]"
	$(BIN)/pip install --no-deps -e examples/breast_cancer_vertical
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The main job: the finance vertical's embedded default (simulated card transactions,
# gbdt head) trained, evaluated and reported end to end; prints where report.html is.
demo: $(VENV)/.installed
	$(BIN)/verticalkit list
	$(BIN)/verticalkit train fraud --out runs/fraud-demo --overwrite

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m ""

clean:
	rm -rf $(VENV) runs
