# `make test` and `make bench` each set up .venv on their own: it is (re)built whenever it is
# missing or pyproject.toml is newer than the stamp below. The optional loops (veloxloop,
# uringcore, rsloop, aiofastnet) come from wheels where this Python has one; one line for each
# that has none, and its cells are unsupported (aionetbench/extras.py).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NATIVE := servers/native/echo clients/native/load clients/native/crosscheck
CC ?= cc

.PHONY: test check lint bench bench-smoke ci-bench native host clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --editable '.[bench,dev]'
	$(PY) -m aionetbench.extras
	touch $(STAMP)

# The native reference server and the native load generator, built from source with the
# system C compiler. Without one they are skipped with one line: the reference cells and
# their tests are skipped, the Python load generator measures every cell; nothing fails.
native:
	@if command -v $(CC) > /dev/null 2>&1; then \
		$(MAKE) --no-print-directory -q $(NATIVE) || $(MAKE) --no-print-directory $(NATIVE); \
	else \
		echo "native: no C compiler ($(CC)) found: no native reference server, and the Python load generator measures every cell"; \
	fi

servers/native/echo: servers/native/echo.c
	$(CC) -O2 -Wall -Wextra -o $@ $<

# The worker, split by concern: the run (load.c), its command line, /proc, the WebSocket
# handshake, opening a connection, its stream (plain or TLS), and what they share. TLS through OpenSSL
# where its headers are (libssl-dev); without them the worker is built without TLS, said in
# one line, and TLS loads stay with the Python load generator (`load --features` tells).
OPENSSL := $(shell printf '\#include <openssl/ssl.h>\n' | $(CC) -E - > /dev/null 2>&1 && echo yes)
TLS_SOURCE := clients/native/$(if $(OPENSSL),tls.c,no_tls.c)
TLS_LIBS := $(if $(OPENSSL),-lssl -lcrypto)
LOAD_SOURCES := $(addprefix clients/native/,load.c options.c procstat.c websocket.c histogram.c \
	receive.c pacing.c channel.c dial.c workload.c slow.c common.c) $(TLS_SOURCE)
clients/native/load: $(LOAD_SOURCES) $(wildcard clients/native/*.h)
	$(if $(OPENSSL),,@echo "native: no OpenSSL headers (libssl-dev): the native load generator is built without TLS, and TLS loads use the Python one")
	$(CC) -O2 -Wall -Wextra -o $@ $(LOAD_SOURCES) -lm $(TLS_LIBS)

clients/native/crosscheck: clients/native/crosscheck.c
	$(CC) -O2 -Wall -Wextra -o $@ $< -lm

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/zizmor --offline .github/workflows/

# The serial tests alone first, on a quiet machine, then the rest four at a time (they spend
# much of their time waiting on processes; an idle worker takes queued tests from a busy one);
# tests/conftest.py says which are serial and why.
test: lint native
	$(PY) -m pytest -q -m serial
	$(PY) -m pytest -q -n 4 --dist worksteal -m "not serial"

# The inner loop: the linters and the tests that start no server or command (under 30 s).
check: lint
	$(PY) -m pytest -q -m "not live"

# The quick profile: the throughput matrix, the open-loop sweep and `bench explain` (within
# 6 minutes on 2 cores); a timestamped copy keeps each run's results, and the report with its
# plots goes to results/latest/.
bench: $(STAMP) native
	$(PY) -m bench run --profile quick -o results/latest.json
	$(PY) -m bench explain --idle-connections 1000 -o results/latest.json
	cp results/latest.json results/quick-$$(date -u +%Y%m%dT%H%M%SZ).json
	$(PY) -m bench report results/latest.json -o results/latest

# A few seconds of the same path, for CI on a clean clone.
bench-smoke: $(STAMP) native
	$(PY) -m bench run --apis protocol,websockets --loops uvloop --repeats 1 \
		--duration 1 --warmup 0.3 --rates 2000,8000 --sweep-duration 0.5 --sweep-warmup 0.2 \
		--sweep-processes 2 --quiet -o results/smoke.json
	$(PY) -m pyperf stats results/smoke.json > /dev/null
	$(PY) -m bench report results/smoke.json -o results/smoke

# The CI regression gate (smoke profile + valgrind counts, about 3 minutes), against either
#   make ci-bench BASELINE=results/baseline.json      a stored results file, or
#   make ci-bench BASE_PYTHON=../base/.venv/bin/python  another environment, measured interleaved
ci-bench: $(STAMP) native
	$(PY) -m bench ci --quiet $(if $(BASELINE),--baseline $(BASELINE)) $(if $(BASE_PYTHON),--base-python $(BASE_PYTHON))

# A host that runs servers and load generators for an orchestrator elsewhere (`bench hosts
# setup` copies the tree and host-requirements.txt, pinned to the orchestrator's versions):
# only what the servers import, and the native programs. WHEELS=DIR installs offline.
host: native
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile \
		$(if $(WHEELS),--no-index --find-links $(WHEELS)) -r host-requirements.txt
	$(PY) -m aionetbench.extras $(if $(WHEELS),--find-links $(WHEELS))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(NATIVE)
