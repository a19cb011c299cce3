#!/usr/bin/env bash
# `make test`: install and start PostgreSQL and Redis on private ports, run every test, stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/services.sh install
dir=$(mktemp -d /tmp/arcade-test.XXXXXX)
trap '.ci/services.sh stop "$dir" || true' EXIT
exports=$(.ci/services.sh start "$dir")  # separate, so a failed start stops the run
eval "$exports"
export ARCADE_REQUIRE_SERVICES=1

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
.venv/bin/python -m pytest "$@"
