# make run  : install the app (and tesseract, for scanned PDFs), seed the demo month on first run, serve
#            http://localhost:8501 with the worker and the HTTP API (http://localhost:8000/docs) beside
#            it; Ctrl-C stops all three
# make test : install everything the tests need (Debian packages too) and run the whole suite
# make image-test : build the container image and run it (the image test alone; make test runs it too)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= localhost
PORT   ?= 8501
API_PORT ?= 8000

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
# The app, the worker and the HTTP API run side by side: Ctrl-C (or a SIGTERM to make) stops all
# three, the worker letting a run in progress finish; when the app stops on its own, the others stop too.
run: $(VENV)/.app-installed
	./scripts/install-app-packages.sh
	$(BIN)/python -m core demo --if-empty
	@trap 'kill -TERM $$app $$worker $$api 2>/dev/null' INT TERM; \
	$(BIN)/python -m core worker & worker=$$!; \
	$(BIN)/python -m core api --host $(HOST) --port $(API_PORT) & api=$$!; \
	RECON_DEMO=1 $(BIN)/python -m streamlit run Home.py --server.address $(HOST) --server.port $(PORT) & app=$$!; \
	wait $$app; kill -TERM $$worker $$api 2>/dev/null; wait $$worker; wait $$api; wait $$app

demo: $(VENV)/.app-installed
	$(BIN)/python -m core demo

ROWS ?= 1000000
bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/match_bench.py --rows $(ROWS)
	$(BIN)/python benchmarks/breaks_page_bench.py --breaks 100000
	$(BIN)/python benchmarks/pdf_bench.py --pages 20 --ocr-pages 3
	$(BIN)/python benchmarks/workspace_bench.py --items 100000

# pytest exits 5 when it collects no test; make treats that, like any non-zero code, as a failure.
# Two pytest workers: the suite waits on servers, browsers and OCR as much as on the CPU.
test: $(VENV)/.dev-installed
	./scripts/install-system-packages.sh
	$(BIN)/python -m pytest -n 2

# The image test alone: build the Dockerfile with buildah (no Docker daemon), run the app and the
# API from it and check their health (a few minutes; the base and the build cache are kept in
# ~/.cache/recon-image between runs).
.PHONY: image-test
image-test: $(VENV)/.dev-installed
	./scripts/install-system-packages.sh
	$(BIN)/python -m pytest -m image tests/deploy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-output
