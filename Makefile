# Privacy Desk — two commands on a fresh machine:
#   make demo   set up and run the product (SQLite, worker, vendor sandbox)
#   make test   set up and run the whole test suite (PostgreSQL when DATABASE_URL says so)
# Production on one machine (README "Production"): `make serve` with the production environment.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install demo test lint check bench serve load clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

lint: install
	$(BIN)/ruff check .

check: install
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

test: lint check
	$(BIN)/pytest $(PYTEST_ARGS)

demo: install
	DEBUG=true $(BIN)/python manage.py demo --port $(PORT)

bench: install
	DEBUG=true $(BIN)/python -m bench $(BENCH_ARGS)

# Web (gunicorn, gunicorn.conf.py) and worker (qcluster) against DATABASE_URL, after the deploy
# check, migrations and collectstatic. Ctrl-C stops both.
serve: install
	$(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py qcluster & worker=$$!; \
	trap 'kill -INT $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/gunicorn config.wsgi

# 300 cases by 10 API clients against gunicorn on a scratch PostgreSQL database (bench/load.py).
load: install
	$(BIN)/python -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* media var staticfiles .pytest_cache .ruff_cache
