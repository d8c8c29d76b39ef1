# Privacy Desk — two commands on a fresh machine:
#   make demo   set up and run the product (SQLite, worker, vendor sandbox)
#   make test   set up and run the whole test suite (PostgreSQL when DATABASE_URL says so)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install demo test lint check bench clean

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
	DEBUG=true $(BIN)/python -m bench

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* media var .pytest_cache .ruff_cache
