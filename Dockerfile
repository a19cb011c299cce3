# syntax=docker/dockerfile:1.7
# One image for every role of Arcade: the role is the first argument of docker/entrypoint.sh.
#
#   docker build -t arcade .
#   docker run arcade web | worker | beat | migrate | manage COMMAND ...
#
# Packages come from requirements.lock, with its versions and hashes: docker/lock_subset.py
# keeps the production part of it (no pytest, mypy or Playwright), nothing is resolved again.
# The storage-emulator target is the local stand-in for Google Cloud Storage that
# docker-compose.yml runs, built from the same lock.

# Python 3.11 as requirements.lock was resolved for; Debian 12 as the test machines run.
FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# --- build: a virtualenv in /opt/venv from the lock file ------------------------------------
FROM base AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /build
COPY requirements.lock docker/lock_subset.py ./
# uv itself comes from the lock, hash-checked by pip.
RUN python lock_subset.py requirements.lock uv >uv-requirements.txt \
    && pip install --require-hashes --no-deps -r uv-requirements.txt \
    && python lock_subset.py requirements.lock >production.lock \
    && python lock_subset.py requirements.lock gcp-storage-emulator >emulator.lock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv venv --python /usr/local/bin/python /opt/venv \
    && uv pip sync --python /opt/venv/bin/python --require-hashes production.lock
# The arena's runtime: what submitted agents import inside their sandbox, alone in a folder
# (arena/sandbox/bwrap.py mounts it read-only; ARCADE_ARENA_RUNTIME below).
COPY arena/runtime.lock arena-runtime.lock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip sync --python /opt/venv/bin/python --target /opt/arena-runtime --require-hashes \
        arena-runtime.lock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv venv --python /usr/local/bin/python /opt/emulator \
    && uv pip sync --python /opt/emulator/bin/python --require-hashes emulator.lock

# --- the storage emulator for docker-compose (never deployed) -------------------------------
FROM base AS storage-emulator
#checkov:skip=CKV_DOCKER_2: docker-compose.yml probes the emulator; it is never deployed
RUN groupadd --system --gid 10001 arcade \
    && useradd --system --uid 10001 --gid arcade --home-dir /data --shell /usr/sbin/nologin arcade \
    && install -d -o arcade -g arcade /data
COPY --from=build /opt/emulator /opt/emulator
# Objects are kept under STORAGE_BASE/STORAGE_DIR: /data, a volume in docker-compose.yml.
ENV PATH=/opt/emulator/bin:$PATH \
    STORAGE_BASE=/ \
    STORAGE_DIR=data
USER 10001:10001
WORKDIR /data
EXPOSE 9023
ENTRYPOINT ["gcp-storage-emulator"]
CMD ["start", "--host=0.0.0.0", "--port=9023"]

# --- the application: every role -----------------------------------------------------------
FROM base AS runtime
#checkov:skip=CKV_DOCKER_2: one image runs web, worker and beat; each deployment (docker-compose.yml, Cloud Run) probes its own role
# bubblewrap: the arena's agents run under it, never without it (docs/arena.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 arcade \
    && useradd --system --uid 10001 --gid arcade --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin arcade \
    && install -d -o arcade -g arcade /var/lib/arcade
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/arena-runtime /opt/arena-runtime
ENV PATH=/opt/venv/bin:$PATH \
    ARCADE_ARENA_RUNTIME=/opt/arena-runtime \
    DJANGO_SETTINGS_MODULE=arcade.settings \
    ARCADE_VAR_DIR=/var/lib/arcade \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000
WORKDIR /app
# The code belongs to root and is read-only for the arcade user; .dockerignore keeps
# virtualenvs, var/, tests' caches and secrets out.
COPY . .
RUN DEBUG=false SECRET_KEY=collectstatic-only ARCADE_PSEUDONYM_KEY=collectstatic-only \
        ARCADE_METRICS_TOKEN=collectstatic-only \
        ARCADE_VAR_DIR=/tmp/arcade-build \
        python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q accounts arcade arena exports games recording \
    && rm -rf /tmp/arcade-build \
    && chmod 0755 docker/entrypoint.sh
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
