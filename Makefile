# The two commands: `make demo` runs the demo, `make test` installs everything and runs
# every test. Both build the project's own virtual environment (.venv) first; nothing is
# installed outside it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# ggshield (a test peer of the exposure service) cannot share .venv with ccxt's pins: it
# gets its own, as a user's pipx would give it.
GG_VENV  := .venv-ggshield
GG_STAMP := $(GG_VENV)/.installed
# `pipx install .` as a user runs it, into .pipx/ (its own venvs and bin): the test set-up
# installs it and tests/e2e/test_packaging.py uses the `incident` it gives. Reinstalled when
# anything that goes into the package changes.
PIPX       := $(CURDIR)/.pipx
PIPX_STAMP := $(PIPX)/.installed
PACKAGED   := pyproject.toml README.md $(shell find incident playbooks templates \
                -not -name '*.pyc' -not -name __pycache__ 2>/dev/null)  # folders too: a removal

.PHONY: demo test install bench clean browser pdf pipx tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(GG_STAMP): tests/ggshield-requirements.txt
	$(PYTHON) -m venv $(GG_VENV)
	$(GG_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r tests/ggshield-requirements.txt
	touch $@

install: $(STAMP)

$(PIPX_STAMP): $(STAMP) $(PACKAGED)
	PIPX_HOME=$(PIPX) PIPX_BIN_DIR=$(PIPX)/bin PIPX_MAN_DIR=$(PIPX)/man \
		$(BIN)/pipx install --quiet --force --python $(PYTHON) .
	$(PIPX)/bin/incident --version
	touch $@

pipx: $(PIPX_STAMP)

# Debian's chromium, for the exposure page's browser test (Playwright drives it).
browser:
	@scripts/debian-package /usr/bin/chromium chromium

# The PDF report: WeasyPrint needs Pango (and HarfBuzz's subsetter to embed only the glyphs
# used) and a font; its tests turn pages into images with pdftoppm (poppler-utils).
pdf:
	@scripts/debian-package \
		lib:libpango-1.0.so.0 libpango-1.0-0 \
		lib:libpangoft2-1.0.so.0 libpangoft2-1.0-0 \
		lib:libharfbuzz-subset.so.0 libharfbuzz-subset0 \
		/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf fonts-dejavu-core \
		/usr/bin/pdftoppm poppler-utils

# The shell tools the guides in docs/ use, as a reader would (tests/e2e/test_guides.py runs
# them).
tools:
	@scripts/debian-package /usr/bin/curl curl /usr/bin/jq jq /usr/bin/unzip unzip

demo: $(STAMP) pdf
	$(BIN)/python scripts/demo.py

test: $(STAMP) $(GG_STAMP) $(PIPX_STAMP) browser pdf tools
	$(BIN)/python -m pytest

bench: $(STAMP) $(GG_STAMP) pdf
	@scripts/debian-package /usr/bin/wrk wrk
	$(BIN)/python benchmarks/keys_import.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/match.py
	$(BIN)/python benchmarks/exposure.py
	$(BIN)/python benchmarks/exchanges.py
	$(BIN)/python benchmarks/playbooks.py
	$(BIN)/python benchmarks/reports.py
	$(BIN)/python benchmarks/evidence_verify.py
	$(BIN)/python benchmarks/demo.py

clean:
	rm -rf $(VENV) $(GG_VENV) $(PIPX) demo-output benchmarks/out
