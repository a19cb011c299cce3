#!/usr/bin/env bash
# `make test`: install and start PostgreSQL and Redis on private ports, run every test, stop them.
# ARCADE_EXTERNAL_SERVICES=1 with DATABASE_URL and REDIS_URL uses servers already running instead.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/services.sh install
if [[ ${ARCADE_EXTERNAL_SERVICES:-} == 1 ]]; then
    # Servers someone else runs (GitHub Actions' service containers); the suite creates and
    # drops its own databases on them, so the role must be a superuser.
    : "${DATABASE_URL:?ARCADE_EXTERNAL_SERVICES=1 needs DATABASE_URL}"
    : "${REDIS_URL:?ARCADE_EXTERNAL_SERVICES=1 needs REDIS_URL}"
else
    dir=$(mktemp -d /tmp/arcade-test.XXXXXX)
    trap '.ci/services.sh stop "$dir" || true' EXIT
    exports=$(.ci/services.sh start "$dir")  # separate, so a failed start stops the run
    eval "$exports"
fi
export ARCADE_REQUIRE_SERVICES=1

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
.venv/bin/python -m pytest "$@"
