# The two commands: `make demo` runs the demo, `make test` installs everything and runs
# every test. Both build the project's own virtual environment (.venv) first; nothing is
# installed outside it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/keys_import.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/match.py

clean:
	rm -rf $(VENV) demo-output benchmarks/out
