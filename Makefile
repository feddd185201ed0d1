# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

demo: install
	$(BIN)/deconfliction demo

test: install-test
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python bench/strategic.py
	$(BIN)/python bench/tactical.py

clean:
	rm -rf $(VENV) build *.egg-info demo.db*
