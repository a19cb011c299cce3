# Arcade: `make run` starts the platform on the embedded default; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ARENA := .arena-runtime
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8

.PHONY: install infra-tools infra-lock arena-lock lock run test lint format bench clean

install: $(VENV)/.installed $(ARENA)/.installed

# The arena's runtime (arena/runtime.lock: numpy, onnxruntime): what submitted agents import
# inside their sandbox, read-only, in a folder of its own so that none of the project's other
# packages is there (arena/sandbox/bwrap.py mounts it; ARCADE_ARENA_RUNTIME moves it).
$(ARENA)/.installed: arena/runtime.lock $(VENV)/.installed
	$(VENV)/bin/uv pip sync -q --python $(PY) --target $(ARENA) --compile-bytecode \
		arena/runtime.lock
	touch $@

# Tools that check Dockerfile, docker-compose.yml, terraform/ and the workflows: a venv of
# their own (checkov's pins would clash with ours), python-hcl2 in a folder of its own inside
# it (checkov's fork of it installs the same module). Each ships its binary: no download at
# run time.
INFRA := .venv-infra
infra-tools: $(INFRA)/.installed

$(INFRA)/.installed: .ci/infra-requirements.lock .ci/infra-hcl2.lock $(VENV)/.installed
	test -x $(INFRA)/bin/python || $(PYTHON) -m venv $(INFRA)
	$(VENV)/bin/uv pip sync -q --python $(INFRA)/bin/python .ci/infra-requirements.lock
	$(VENV)/bin/uv pip sync -q --python $(INFRA)/bin/python --target $(INFRA)/hcl2 \
		.ci/infra-hcl2.lock
	touch $@

# The Python client (client/, arcade_client) goes in editable, without dependencies of its own:
# the lock has them (tests/test_client_package.py checks), so the venv holds the lock and it.
$(VENV)/.installed: requirements.lock client/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps --editable ./client
	touch $@

# Regenerate the lock file after changing pyproject.toml.
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --group dev --generate-hashes \
		--python-version 3.11 --no-header -o requirements.lock

arena-lock:
	$(VENV)/bin/uv pip compile arena/runtime.in --generate-hashes \
		--python-version 3.11 --no-header -o arena/runtime.lock

infra-lock:
	for name in infra-requirements infra-hcl2; do \
		$(VENV)/bin/uv pip compile .ci/$$name.in --generate-hashes \
			--python-version 3.11 --no-header -o .ci/$$name.lock; done

# The Procfile's roles under arcade/run.py: stopped in order on Ctrl-C (web drains first, Redis
# last), all of them when one dies; it prints the address with the real port ($ARCADE_PORT).
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_catalogue
	$(PY) manage.py demo_admin
	$(PY) -m arcade.run --procfile Procfile

test: install infra-tools
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
	rm -rf $(VENV) $(INFRA) $(ARENA) var staticfiles
