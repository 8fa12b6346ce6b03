# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install news-monitor, run the daemon on monitor.yaml
#   make test   create .venv, install the test extras, run the test suite
PYTHON ?= python3
# Python caches compiled modules as usual here, even where the environment says not to: without the
# cache each `monitor` process (the tests start hundreds) compiles the package again.
unexport PYTHONDONTWRITEBYTECODE
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run once test test-corpus lint bench clean image-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py monitor/matching/_sentences.pyx | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[postgres]'
	touch $@

# The tests also build the optional compiled sentence scan (Cython is in the test extra), to hold it to the
# pure path; `make run` needs neither it nor a compiler.
$(VENV)/.installed-test: pyproject.toml setup.py monitor/matching/_sentences.pyx | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/monitor run

once: $(VENV)/.installed
	$(BIN)/monitor run --once

# feedparser's own test feeds (downloaded from the package index once; the test is skipped without them)
.cache/feedparser-tests: | $(VENV)/.installed-test
	-$(BIN)/python bench/fetch_feedparser_corpus.py

# The suite mostly waits (daemon children, loopback peers, timers), so it runs on more xdist workers
# than cores.
# `make test TEST_WORKERS=0` runs it in one process; `make test TEST_MARKS="not corpus and not slow"`
# also skips the long end-to-end tests.  The large corpora run by their own command: `make test-corpus`.
TEST_WORKERS ?= 6
TEST_MARKS ?= not corpus
PYTEST_ARGS ?=
test: $(VENV)/.installed-test .cache/feedparser-tests
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) -m "$(TEST_MARKS)" $(PYTEST_ARGS)

test-corpus: $(VENV)/.installed-test .cache/feedparser-tests
	$(BIN)/python -m pytest -q -ra -n 2 -m corpus $(PYTEST_ARGS)

# The container image built (deploy/README.md → podman) and run for real: as root, with podman,
# buildah, runc and debootstrap installed; minutes.  MONITOR_TEST_DATABASE_URL adds the PostgreSQL run.
image-test: $(VENV)/.installed-test
	MONITOR_IMAGE_TEST=1 $(BIN)/python -m pytest -q -ra -rP tests/test_image.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks (not tests): `make bench` runs the quick versions; `make bench BENCH_ARGS=` runs the full
# bench_rules (100,000-article memory run, 1,000 articles per rule count) and
# `make bench BENCH_FEEDS_ARGS=` the full bench_feeds (1,000 feeds, 200 files).
# bench/RESULTS.md: how long each takes, every script's flags, and the current figures.
BENCH_ARGS ?= --quick
BENCH_FEEDS_ARGS ?= --quick
bench: $(VENV)/.installed
	$(BIN)/python bench/bench_rules.py $(BENCH_ARGS)
	$(BIN)/python bench/bench_scan.py
	$(BIN)/python bench/bench_feeds.py $(BENCH_FEEDS_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
