# make run  : install the app (and tesseract, for scanned PDFs), seed the demo month on first run, serve http://localhost:8501
# make test : install everything the tests need (Debian packages too) and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= localhost
PORT   ?= 8501

.PHONY: run test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { $(MAKE) --no-print-directory venv-package && $(PYTHON) -m venv $(VENV); }

.PHONY: venv-package
venv-package:
	@[ "$$(id -u)" -eq 0 ] && apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null || true

$(VENV)/.app-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.app-installed

# The demo seeds users with published passwords: the app runs in demo mode (RECON_DEMO=1).
run: $(VENV)/.app-installed
	./scripts/install-app-packages.sh
	$(BIN)/python -m core demo --if-empty
	RECON_DEMO=1 $(BIN)/python -m streamlit run Home.py --server.address $(HOST) --server.port $(PORT)

demo: $(VENV)/.app-installed
	$(BIN)/python -m core demo

ROWS ?= 1000000
bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/match_bench.py --rows $(ROWS)
	$(BIN)/python benchmarks/breaks_page_bench.py --breaks 100000
	$(BIN)/python benchmarks/pdf_bench.py --pages 20 --ocr-pages 3

# pytest exits 5 when it collects no test; make treats that, like any non-zero code, as a failure.
test: $(VENV)/.dev-installed
	./scripts/install-system-packages.sh
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-output
