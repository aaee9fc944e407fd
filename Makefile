# The two README commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test migrate jobs translations clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The pinned requirements, then the package itself, editable (its dependencies are those pins).
$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.runtime

migrate: $(VENV)/.runtime
	$(BIN)/flask --app wsgi db upgrade

# Development server on http://localhost:8000 (SQLite and development keys in instance/).
run: migrate
	$(BIN)/flask --app wsgi run --host 127.0.0.1 --port 8000

# One pass of the background duties (what cron runs every minute).
jobs: migrate
	$(BIN)/flask --app wsgi jobs run-once

# The test suite (settings in pyproject.toml); TEST_DATABASE_URL=postgresql+psycopg://... runs it on PostgreSQL.
# Two processes (pytest-xdist), one a core, each on a database of its own (tests/conftest.py); PYTEST_ARGS="-n 0"
# runs it in one. Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: pytest keeps its rewritten test
# modules there, which each process would otherwise rewrite on every run (seconds of a core).
# Work stealing: a process that runs out of tests takes some of the other's, so neither waits on the last long ones.
test: $(VENV)/.dev
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)

# After changing words of the pages or the API: extract them, merge them into the Russian catalogue (fill in the
# new msgstr lines in b24sms/translations/ru/LC_MESSAGES/messages.po), then run this again to compile it.
# No dates are written (the template has no header; the catalogue keeps its own POT-Creation-Date), so when no
# word changed this changes no file.
translations: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k NP_:1,2 --no-location --sort-output --omit-header --project b24sms \
		-o b24sms/translations/messages.pot .
	$(BIN)/pybabel update -i b24sms/translations/messages.pot -d b24sms/translations --no-fuzzy-matching \
		--ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d b24sms/translations --statistics

clean:
	rm -rf $(VENV) .pytest_cache
