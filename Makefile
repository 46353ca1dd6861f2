PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test soak demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# SIGKILL at random moments, many more times than CI does (CORA_CRASH_TRIALS to change)
soak: $(STAMP)
	CORA_CRASH_TRIALS=$${CORA_CRASH_TRIALS:-200} $(BIN)/python -m pytest -q \
		tests/integration/test_recorder_durability.py -k sigkill

demo: $(STAMP)
	$(BIN)/cora demo

$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[all,test,bench]'
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
