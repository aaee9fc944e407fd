# The two README commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test migrate jobs translations clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

migrate: $(VENV)/.runtime
	$(BIN)/flask --app wsgi db upgrade

# Development server on http://localhost:8000 (SQLite and development keys in instance/).
run: migrate
	$(BIN)/flask --app wsgi run --host 127.0.0.1 --port 8000

# One pass of the background duties (what cron runs every minute).
jobs: migrate
	$(BIN)/flask --app wsgi jobs run-once

# The test suite; TEST_DATABASE_URL=postgresql+psycopg://... runs it on PostgreSQL.
test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# After changing words of the pages or the API: extract them, merge them into the Russian catalogue (fill in the
# new msgstr lines in b24sms/translations/ru/LC_MESSAGES/messages.po), then run this again to compile it.
translations: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --omit-header --project b24sms \
		-o b24sms/translations/messages.pot .
	$(BIN)/pybabel update -i b24sms/translations/messages.pot -d b24sms/translations --no-fuzzy-matching \
		--ignore-obsolete
	$(BIN)/pybabel compile -d b24sms/translations --statistics

clean:
	rm -rf $(VENV) .pytest_cache
