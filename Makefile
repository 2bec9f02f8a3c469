# The two commands of the README (`make run`, `make test`) plus lint and bench.
# Works without a terminal (CI=true): no prompts, no colours required.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Stamps record that the installed packages are newer than pyproject.toml.
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
PYTEST_ARGS ?=

.PHONY: run test test-widget lint bench bench-latency bench-two-instance bench-components bench-transfer bench-insight bench-sinks bench-matching bench-retention bench-index bench-sentinel bench-sockets bench-http-client venv test-deps

run: $(RUN_STAMP)
	$(VENV)/bin/screenpop demo

test: $(DEV_STAMP) test-deps lint test-widget
	@$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# Part of `make test`: the widget's pure modules under node's own test runner (no npm packages).
test-widget: test-deps
	node --test tests/widget/*.test.mjs

# Part of `make test`, so main stays ruff-clean, formatted and mypy-clean.
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check screenpop connectors tests bench
	$(VENV)/bin/mypy

# Each bench script stands alone (bench/README.md); `make bench` runs them all, one after another.
# The retention bench runs last: deleting its million-row PostgreSQL cluster kept the machine busy for
# seconds after it exited, and the first index build after it lagged (docs/performance.md).
bench: bench-latency bench-two-instance bench-components bench-transfer bench-insight bench-sinks bench-matching bench-index bench-sentinel bench-sockets bench-http-client bench-retention

# The single-instance run against the floor measured in the same run, three HTTP connectors:
# at 20 calls/s (latency ratios to the floor), then a burst (server CPU per call).
bench-latency: $(RUN_STAMP)
	$(PY) bench/latency.py --connectors http --rate 20 --calls 400
	$(PY) bench/latency.py --connectors http --rate 0 --calls 3000 --warmup 200

# Two instances over one throwaway Redis: what crossing instances adds.
bench-two-instance: $(RUN_STAMP)
	$(PY) bench/two_instance.py

# Components (cache, broker, store, connectors, demo data) against their floors.
bench-components: $(RUN_STAMP)
	$(PY) bench/components.py

# A transferred call: transfer event -> card on the new agent, against the floor of the same run.
bench-transfer: $(RUN_STAMP)
	$(PY) bench/transfer.py

# The purchases insight: build, RSS, lookups, quality vs baselines (real data installed at bench time),
# rebuild impact. INSIGHT_BENCH_QUICK=1 (or `bench/insight.py --quick`) measures 10^5 lines only.
bench-insight: $(RUN_STAMP)
	$(PY) bench/insight.py

# A saved note -> its row at an http, a SQLite and a PostgreSQL sink, against direct POST/INSERT floors.
bench-sinks: $(RUN_STAMP) test-deps
	$(PY) bench/sinks.py

# Matching legacy numbers (match: normalized): recall and wrong-customer rate against exact and
# last-7-digit matching, on a generated table of 3,000 customers in 15 stored formats.
bench-matching: $(RUN_STAMP)
	$(PY) bench/matching.py

# The retention purge on 10^6 stored calls, SQLite and PostgreSQL, against one-statement deletes
# (its floor); RETENTION_BENCH_ARGS="--calls 100000" for a quicker run.
bench-retention: $(RUN_STAMP) test-deps
	$(PY) bench/retention.py $(RETENTION_BENCH_ARGS)

# A Redis Sentinel failover (real primary, replica, three sentinels; the primary SIGKILLed while calls
# flow at 10/s to two instances): the pause until cards cross instances again, and lost/doubled pops.
bench-sentinel: $(RUN_STAMP) test-deps
	$(PY) bench/sentinel.py $(SENTINEL_BENCH_ARGS)

# Idle agent sockets: server memory per welcomed socket (2000 of them) against a bare-aiohttp floor;
# SOCKETS_BENCH_ARGS="--agents 500 --rounds 1" for a quicker run.
bench-sockets: $(RUN_STAMP)
	$(PY) bench/sockets.py $(SOCKETS_BENCH_ARGS)

test-deps:
	@scripts/install-test-deps.sh

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)

# The dev install is a superset of the plain one, so it satisfies `run` too.
$(RUN_STAMP): pyproject.toml | $(PY)
	@if [ -f $(DEV_STAMP) ] && [ $(DEV_STAMP) -nt pyproject.toml ]; then :; \
	else $(PIP) install -e .; fi
	@touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PIP) install -e '.[dev]'
	@touch $@ $(RUN_STAMP)

# The normalized-match number index at 10^5, 10^6 and 10^7 rows (~5 min; INDEX_BENCH_SIZES to choose):
# build, RSS per stored number, lookup p50/p99, loop lag during a rebuild, incremental 1% refresh,
# printed against issue 15's targets with PASS/MISS.
INDEX_BENCH_SIZES ?= 100000,1000000,10000000
# Three http connectors per card against a bare aiohttp client doing the same three GETs: what the
# connector path adds to aiohttp's own cost (the floor under the burst's CPU per call).
bench-http-client: $(RUN_STAMP)
	$(PY) bench/http_client.py

bench-index: $(RUN_STAMP)
	$(PY) bench/index.py --sizes $(INDEX_BENCH_SIZES)
