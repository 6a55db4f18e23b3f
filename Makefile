# Two commands do everything on a fresh machine:
#   make demo   set up, then replay the bundled example traffic (no Kafka needed)
#   make test   set up (with the behaviour layer compiled: make native, about 20 s),
#               install and start the Kafka broker the tests use, install
#               redis-server (the revoker tests start their own), Chromium and
#               Graphviz (the map page is rendered headless), promtool (alert rules,
#               scripts/promtool.sh: seconds), run every test
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup native demo test lint mutate kafka-start kafka-stop redis-install chromium-install promtool-install helm-install helm-start dashboard-snapshot clean

# the package alone (the demo needs nothing else) ...
$(BIN)/.installed-core: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

# ... and with the test, lint and notebook tools
$(BIN)/.installed: $(BIN)/.installed-core
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# ... and the behaviour layer's hot modules compiled (mypyc; with GCC profile-guided:
# compiled, run over simulated traffic, compiled again, about a minute: python -m
# monitor.native_build), so the tests and benchmarks run what a deployment should. Rebuilt
# when a baseline source is newer than the build's stamp; where it cannot build (no C
# compiler), the pure-Python modules run, with the same results, about twice as slow.
monitor/core/baseline/native.json: $(BIN)/.installed $(wildcard monitor/core/baseline/*.py)
	$(BIN)/python -m monitor.native_build || echo "make: the compiled build failed; the pure-Python behaviour layer runs (same results, slower)"

native: monitor/core/baseline/native.json

setup: $(BIN)/.installed native

demo: $(BIN)/.installed-core
	$(BIN)/mcpmon replay examples/events.jsonl --charters examples/charters --out out

kafka-start:
	bash scripts/kafka.sh start

kafka-stop:
	bash scripts/kafka.sh stop

redis-install:
	bash scripts/redis.sh install

chromium-install:
	bash scripts/chromium.sh install

promtool-install:
	bash scripts/promtool.sh install

# helm for the chart tests (helm lint, renderings current; tests/integration/test_helm_binary.py):
# built from source with Go (scripts/helm.sh), minutes on a clean machine, so `make test`
# starts the build in the background before anything else and those tests, which run in the
# serial broker phase, wait for it. A no-op when helm is found.
helm-start:
	bash scripts/helm.sh start

helm-install:
	bash scripts/helm.sh install

lint: setup
	$(BIN)/ruff check monitor tests
	$(BIN)/ruff format --check monitor tests

# Two pytest runs: everything but tests/integration on TEST_JOBS processes (pytest-xdist; the
# unit tests are CPU-bound, so two workers on two cores halve their time), then the broker
# tests in tests/integration one at a time (they time worker restarts and lag; a second
# process beside them only slows them down). Both always run; `make test` fails if either did.
TEST_JOBS ?= 2
test: helm-start setup kafka-start redis-install chromium-install promtool-install lint
	$(BIN)/python -m pytest -n $(TEST_JOBS) --ignore=tests/integration; unit=$$?; \
	$(BIN)/python -m pytest tests/integration; broker=$$?; \
	echo "pytest exit codes: unit $$unit, integration $$broker"; \
	test $$unit -eq 0 && test $$broker -eq 0

# Mutation testing of monitor/core and monitor/identity.py against tests/core, and of the
# response loop (--only 'monitor/revoker/*', 'monitor/sinks/*', 'monitor/proxy/identity.py', ...)
# against its own tests (not part of `make test`: tens of minutes on two cores). Each run merges its modules
# into results/mutation.json and renders results/mutation.md from all of them;
# fails while a surviving mutant is neither killed nor justified. mutmut gets a
# virtualenv of its own under build/mutation (its click clashes with faust's).
# Narrow it: make mutate MUTATE_ARGS="--only monitor/core/decision.py --jobs 1"
# After new tests, re-test only the survivors: MUTATE_ARGS="--survivors monitor/core/state.py"
mutate: setup
	$(BIN)/python scripts/mutate.py $(MUTATE_ARGS)

# docs/dashboard.png: the Grafana dashboard's queries answered by a real Prometheus that
# scraped a live worker, revoker, sink and proxy for five minutes (no Grafana here; see
# the script). Fails when a panel the traffic must fill shows no data.
dashboard-snapshot: setup kafka-start redis-install promtool-install
	$(BIN)/python scripts/dashboard_snapshot.py $(SNAPSHOT_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache
