# Arcade: `make run` starts the platform on the embedded default; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8

.PHONY: install run test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	touch $@

# Regenerate the lock file after changing pyproject.toml.
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --group dev --generate-hashes \
		--python-version 3.11 --no-header -o requirements.lock

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_catalogue
	$(PY) manage.py demo_admin
	@echo "Arcade is starting on http://127.0.0.1:8000 (Ctrl-C stops everything)"
	$(VENV)/bin/honcho start -f Procfile

test: install
	bash .ci/test.sh

# The benchmark suite (about ten minutes): bench/results/latest.json and latest.md.
bench: install
	$(PY) -m bench all

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles
