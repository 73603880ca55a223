# Set-up and entry points. `make test` and `make run` install everything they need on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test run sandbox bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The whole test suite, on SQLite and on PostgreSQL (127.0.0.1:5432, or M3_TEST_PG_URL).
test: $(STAMP)
	$(PY) -m pytest

# The bot, with the settings of the environment or of `.env`.
run: $(STAMP)
	$(VENV)/bin/m3bot run

# Try it without Slack: the bot, a local Slack and its page on http://127.0.0.1:8000, fictitious clients.
# `make sandbox TIME=2026-12-01T10:30` moves the clock into a legal calling slot (demo only).
sandbox: $(STAMP)
	$(VENV)/bin/m3bot sandbox $(if $(TIME),--time $(TIME))

# Every benchmark on this machine (PostgreSQL on 127.0.0.1:5432, or M3_TEST_PG_URL), written to
# bench/RESULTS.md; about 45 minutes. `make bench ARGS=--quick` is a smoke run of a few minutes.
bench: $(VENV)/.installed-bench
	$(PY) -m bench.run $(ARGS)

$(VENV)/.installed-bench: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info
