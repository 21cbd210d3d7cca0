# Two commands do everything: `make run` and `make test`. Both create .venv and install what they need.
# `make serve WORKERS=N` is `make run` as N processes behind HAProxy (deploy/serve.py; README, "When one process
# is not enough").
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
WORKERS ?= 2
PYTEST_ARGS ?=
# `make run` is the demo: it may keep a generated login-cookie key in data/. Deployments set COOKIE_KEY instead.
DEMO ?= true

.PHONY: run serve test bench migrate demo clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	DEMO=$(DEMO) $(PY) -m core demo
	@echo
	@echo "  Event Orders runs at http://127.0.0.1:$(PORT)/  (demo event: http://127.0.0.1:$(PORT)/?event=demo)"
	@echo "  Stop it with Ctrl+C."
	@echo
	@echo "  Organisers log in at http://127.0.0.1:$(PORT)/login"
	@# FORWARDED_ALLOW_IPS empty: uvicorn must not take a client's X-Forwarded-For as its address (core/proxies.py).
	@# PUBLIC_BASE_URL: links in mail lead to this port, unless the environment or secrets.toml configure it.
	PUBLIC_BASE_URL="$$($(PY) -m core public-url --port $(PORT))" FORWARDED_ALLOW_IPS= DEMO=$(DEMO) \
		$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

# The same set-up, then WORKERS Streamlit processes behind HAProxy on 127.0.0.1:$(PORT), in the foreground.
serve: $(VENV)/.run-deps
	DEMO=$(DEMO) $(PY) -m deploy.serve --workers $(WORKERS) --port $(PORT)

# The suite runs on a fresh SQLite file per test, then again on PostgreSQL when TEST_POSTGRESQL_URL names a
# database that the tests may wipe. In CI (CI=true) that second pass is required, not optional.
test: $(VENV)/.test-deps
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_POSTGRESQL_URL" ]; then \
		echo "== The same suite on PostgreSQL =="; \
		TEST_DATABASE_URL="$$TEST_POSTGRESQL_URL" $(PY) -m pytest $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "CI=true but TEST_POSTGRESQL_URL is not set: the PostgreSQL pass may not be skipped in CI." >&2; exit 1; \
	else \
		echo "PostgreSQL pass skipped: set TEST_POSTGRESQL_URL=postgresql+psycopg://USER:PASSWORD@127.0.0.1/DB to run it."; \
	fi

# Every bench/bench_*.py, each beside a baseline measured in the same run, then one table of all results
# (see bench/README.md). BENCH_ARGS=--small for a quick check of the harness; BENCH_ARGS="--only tti,sessions".
BENCH_ARGS ?=
bench: $(VENV)/.test-deps
	$(PY) -m bench.run_all $(BENCH_ARGS)

migrate: $(VENV)/.run-deps
	$(PY) -m core migrate

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
