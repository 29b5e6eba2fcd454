# The README's two commands: `make run` and `make test`. Each creates the environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1:8000

.PHONY: run test lint bench-import chromium clean serve

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo --url http://$(HOST)/
	$(BIN)/python manage.py runserver $(HOST)

# The production processes (gunicorn, a Celery worker per queue, beat) against the local
# PostgreSQL and Redis; DATABASE_URL, CELERY_BROKER_URL, GUNICORN_BIND override the defaults.
serve: $(STAMP)
	PYTHON=$(BIN)/python bash deploy/serve.sh

# Browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench-import: $(STAMP)
	$(BIN)/python bench/import_nih.py

clean:
	rm -rf $(VENV) var
