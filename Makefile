# carcourse: `make lab` opens the course in JupyterLab, `make test` runs every test.
# Both create .venv when it is missing or older than pyproject.toml, and reuse it otherwise.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.carcourse-installed
KERNEL := carcourse
PORT ?= 8888
TORCH_PIN ?=
# Reports and screenshots for CI to keep (gitignored): nbval's JUnit report, the browser test's screenshots.
ARTIFACTS ?= $(or $(CARCOURSE_ARTIFACTS),artifacts)

.PHONY: lab test test-slow setup kernel lab-settings unit notebooks browser test-browser browser-deps bench data clean help

help:
	@echo "make lab    - set up .venv and open the course in JupyterLab"
	@echo "make test   - set up .venv and run unit tests, notebooks (nbval, quick mode, in a sandbox) and browser tests"
	@echo "make test-slow - the tests left out of make test (each notebook Run All in JupyterLab; minutes)"
	@echo "make test-browser - only the browser tests make test runs (explorer, a check message, notebook 04; headless Chromium)"
	@echo "make bench  - quick benchmarks (ratios measured side by side)"
	@echo "make clean  - remove .venv and caches"

# (Re)install when .venv is missing or pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]" $(TORCH_PIN)
	@touch $(STAMP)

setup: $(STAMP)

kernel: $(STAMP)
	@$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (carcourse)" >/dev/null
	@echo "Jupyter kernel '$(KERNEL)' registered in $(VENV)"

# JupyterLab settings of the course: widget-state saving on, so a notebook saved and reopened
# shows each widget's last state instead of "Error displaying widget: model not found".
# One line of JSON (tests/browser reads it from here); written to the venv's overrides.json.
LAB_SETTINGS_JSON := {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": true}}
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_OVERRIDES): Makefile $(STAMP)
	@mkdir -p $(dir $@) && echo '$(LAB_SETTINGS_JSON)' > $@

lab-settings: $(LAB_OVERRIDES)

lab: kernel lab-settings
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ] && [ "$$(uname)" != Darwin ]; then \
	  echo "No display: starting JupyterLab without a browser; open the URL it prints."; \
	  NB="--no-browser"; fi; \
	if [ "$$(id -u)" = 0 ]; then ROOT="--allow-root"; fi; \
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --port=$(PORT) $$NB $$ROOT

# Chromium for the browser tests, from the system package manager, only when a browser test exists.
browser-deps:
	@if ls tests/browser/test_*.py >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Chromium for the browser tests (apt-get)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; fi

# pytest exits 5 when it collects nothing: that is a pass for a suite that has no tests yet.
define run_pytest
	@set +e; $(PY) -m pytest $(1); rc=$$?; if [ $$rc -eq 5 ]; then echo "(no tests collected: $(1))"; rc=0; fi; exit $$rc
endef

# The student edition (python -m carcourse student) has no tests/: then only the notebooks run.
SANITIZE := $(if $(wildcard tests/nbval_sanitize.cfg),--nbval-sanitize-with tests/nbval_sanitize.cfg,)

# The unit tests include the notebooks: tests/test_notebook_sandbox.py runs nbval over notebooks/
# once, inside the sandbox (no network, HOME elsewhere, nothing written outside runs/).
# Two pytest-xdist workers, one test file each at a time (a file's module fixtures run once);
# tests marked `slow` are left to `make test-slow`.
XDIST := -n 2 --dist loadfile
unit: export CARCOURSE_PROGRESS = text
unit: export CARCOURSE_ARTIFACTS := $(abspath $(ARTIFACTS))
unit: $(STAMP)
ifneq ($(wildcard tests/test_*.py),)
	$(call run_pytest,tests --ignore=tests/browser -m "not slow" $(XDIST) --durations=15)
else
	@echo "(no unit tests in this copy of the course)"
endif

# nbval alone (the student edition's `make test`; in the course, `make unit` runs it in the sandbox).
# Progress goes to stderr as text; the checked cells print no progress.
notebooks: export CARCOURSE_PROGRESS = text
notebooks: kernel
	$(call run_pytest,--nbval-lax notebooks -p no:cacheprovider --nbval-current-env $(SANITIZE) --junitxml=$(ARTIFACTS)/nbval-report.xml)

browser: kernel browser-deps
	@if ls tests/browser/test_*.py >/dev/null 2>&1; then CARCOURSE_ARTIFACTS=$(abspath $(ARTIFACTS)) $(PY) -m pytest tests/browser -s -m "not slow"; \
	else echo "(no browser tests yet: tests/browser/test_*.py)"; fi

# The slow tests (minutes each: every notebook Run All in JupyterLab but the one make test keeps);
# the weekly CI job runs them (.github/workflows/notebooks.yml).
test-slow: export CARCOURSE_QUICK = 1
test-slow: export MPLBACKEND = Agg
test-slow: export CARCOURSE_PROGRESS = text
test-slow: kernel browser-deps
	CARCOURSE_ARTIFACTS=$(abspath $(ARTIFACTS)) $(PY) -m pytest tests -m slow -s --durations=15

test-browser: export CARCOURSE_QUICK = 1
test-browser: export MPLBACKEND = Agg
test-browser: browser

test: export CARCOURSE_QUICK = 1
test: export MPLBACKEND = Agg
ifneq ($(wildcard tests/test_*.py),)
test: unit browser
else
test: notebooks
endif

bench: $(STAMP)
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
