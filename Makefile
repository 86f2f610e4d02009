# rerate: the nightly credit re-rating job.
# `make run` and `make test` are all a fresh machine needs; `make setup` is the part they share.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE_USERS ?= 20000
SAMPLE_DAYS ?= 395
SAMPLE_END ?= 2026-10-31
SAMPLE_SEED ?= 7
SAMPLE_INPUT := data/sample/input
SAMPLE_OUTPUT := data/sample/output

.PHONY: setup java run test test-faults test-airflow test-cluster bench lint package clean

setup: java $(STAMP)

# Spark needs Java 17: use it when present, install it with apt where it is missing.
java:
	@if java -version 2>&1 | grep -q 'version "17'; then \
	  echo "java 17: found"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "java 17: missing, installing openjdk-17-jre-headless with apt"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	else \
	  echo "java 17 is required by Spark and apt is not available: install a Java 17 runtime" >&2; exit 2; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Generates the sample once (reused by later runs), then re-rates the last two days:
# the first is the bootstrap, the second a normal night that diffs against it.
run: setup
	@test -f $(SAMPLE_INPUT)/.complete || { \
	  rm -rf $(SAMPLE_INPUT) && \
	  $(BIN)/rerate generate --users $(SAMPLE_USERS) --days $(SAMPLE_DAYS) \
	    --end-date $(SAMPLE_END) --seed $(SAMPLE_SEED) --input $(SAMPLE_INPUT) && \
	  touch $(SAMPLE_INPUT)/.complete; }
	$(BIN)/rerate run --date $$(date -d "$(SAMPLE_END) -1 day" +%F) --input $(SAMPLE_INPUT) --output $(SAMPLE_OUTPUT) --quiet
	$(BIN)/rerate run --date $(SAMPLE_END) --input $(SAMPLE_INPUT) --output $(SAMPLE_OUTPUT)

# Two workers, each with its own SparkSession; a module's tests stay on one worker (its fixtures
# are built once). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope --durations=15

# The long fault tests: processes killed mid-publish and mid-rollback, a crash before every
# publish and rollback step (on crash images), 10 random SIGKILLs, a full disk, a chain of
# appending nights. CI runs them after `make test`. RERATE_SOAK_KILLS=N for more random kills.
test-faults: setup
	$(BIN)/pytest -q -m soak --durations=15

# Real Apache Airflow, pinned, in its own venv (its dependencies would fight the job's): ~40 s once.
AIRFLOW_VENV := $(VENV)/airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-3.3.2
$(AIRFLOW_STAMP):
	rm -rf $(AIRFLOW_VENV)
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install -q apache-airflow-core==3.3.2 apache-airflow-providers-standard==1.21.0
	touch $(AIRFLOW_STAMP)

test-airflow: setup $(AIRFLOW_STAMP)
	$(BIN)/pytest -q -m airflow tests/airflow

# A Spark standalone master and two workers on 127.0.0.1; the packaged job submitted to it (~5 min).
test-cluster: package
	$(BIN)/pytest -q -s -m cluster tests/cluster

# The nightly run at a real book's size against the Spark and DuckDB floors (README: Performance).
# The book is generated once into data/bench/; BENCH_USERS=100000 BENCH_SCALES= for a quick look.
BENCH_USERS ?= 1000000
BENCH_SCALES ?= 250000,500000
bench: setup
	$(BIN)/python -m tests.bench.run --users $(BENCH_USERS) --scales "$(BENCH_SCALES)"

lint: setup
	$(BIN)/ruff check jobs transforms tests
	$(BIN)/ruff format --check jobs transforms tests

# A wheel for pip, and a zip of the packages for `spark-submit --py-files`.
package: setup
	rm -rf dist
	$(BIN)/pip wheel -q --no-deps -w dist .
	cd . && $(BIN)/python -m zipfile -c dist/rerate.zip jobs transforms
	cp jobs/spark_entry.py dist/rerate_submit.py
	@ls -l dist

clean:
	rm -rf $(VENV) dist build data *.egg-info .pytest_cache .ruff_cache .hypothesis
