# Two commands for a new user: `make run` and `make test`. Each bootstraps .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= $(or $(CX_DB),data/cx.duckdb)
PORT   ?= 8501

.PHONY: run test test-slow test-all test-nightly test-spark lint typecheck bench sample clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -e '.[dev]'
	@touch $(STAMP)

# The sample data is generated only when the store file is missing; built aside and moved
# into place so an interrupted run never leaves a half-filled store behind.
$(DB): | $(STAMP)
	@rm -f $(DB).tmp $(DB).tmp.wal
	$(BIN)/cx sample --db $(DB).tmp
	mv $(DB).tmp $(DB)

run: $(STAMP) $(DB)
	CX_DB=$(DB) $(BIN)/python -m dashboard.serve --server.address 127.0.0.1 \
	  --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# The quick suite, on both cores: everything but the `slow` tests (calibration by simulation,
# tests that start a Python which imports the whole app), the `browser` ones (a real Chromium
# against a running app) and the `nightly` ones (long MCMC fits).
QUICK := not slow and not browser and not nightly and not spark
test: $(STAMP) $(DB)
	$(BIN)/python -m pytest -n 2 -m "$(QUICK)"

# The slow and browser tiers (CI runs them after `make test`).
test-slow: $(STAMP) $(DB)
	$(BIN)/python -m pytest -n 2 -m "(slow or browser) and not nightly"

# Every test: the quick suite, the slow and browser tiers and the nightly MCMC fits.
test-all: $(STAMP) $(DB)
	$(BIN)/python -m pytest -n 2

# Spark Connect for `make test-spark`: pyspark (the server's JARs come in its wheel, built
# once from the sdist into .cache/wheels, ~2-6 min cold, then reused), deltalake, and Java
# 17 from Debian when there is no `java`. Nothing is fetched from Maven or apache.org.
SPARK_VERSION ?= 4.3.0
WHEELS        := .cache/wheels
SPARK_STAMP   := $(VENV)/.spark-$(SPARK_VERSION)

$(SPARK_STAMP): $(STAMP)
	@mkdir -p $(WHEELS)
	@ls $(WHEELS)/pyspark-$(SPARK_VERSION)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip wheel --quiet --no-deps pyspark==$(SPARK_VERSION) -w $(WHEELS)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --find-links $(WHEELS) \
	  'pyspark[connect]==$(SPARK_VERSION)' 'deltalake>=0.25'
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	@touch $@

# The `spark` tests: a local Spark Connect server (127.0.0.1), DuckDB vs Spark on the sample.
test-spark: $(SPARK_STAMP)
	bash scripts/test-spark.sh

test-nightly: $(STAMP)
	$(BIN)/python -m pytest -m "nightly"

# The checks CI and the pre-commit hooks run: ruff lint and format, mypy on metrics/ and
# experiments/ (configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
