# The two quickstart commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint fmt qa bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Embedded default: SQLite under var/, Celery tasks in-process, demo data loaded once.
run: install
	mkdir -p var
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py portal_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/"
	DEBUG=true PORT=$(PORT) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The whole suite on PostgreSQL and Redis (see scripts/with-test-services.sh for where they come from).
test: install
	$(BIN)/ruff check .
	scripts/with-test-services.sh $(BIN)/python manage.py makemigrations --check --dry-run --settings=settings_portal.settings_test
	scripts/with-test-services.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

# The quick subset for iterating: no browser, no real ClearML clients.
test-fast: install
	scripts/with-test-services.sh $(BIN)/python -m pytest -m "not e2e and not realclient" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

qa: lint test

# Benchmarks print figures; they are not tests (see docs/benchmarks.md).
bench: install
	scripts/with-test-services.sh $(BIN)/python bench/api_auth.py
	scripts/with-test-services.sh $(BIN)/python bench/scheduler.py
	scripts/with-test-services.sh $(BIN)/python bench/access_checks.py
	scripts/with-test-services.sh $(BIN)/python bench/gateway.py
	scripts/with-test-services.sh $(BIN)/python bench/access_rules.py

clean:
	rm -rf $(VENV) var .pytest_cache
