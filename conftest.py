"""Shared test set-up: real PostgreSQL and Redis (started by `make test`), a cast of users."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_SERVICES = (
    os.environ.get("CI") == "true" or os.environ.get("ARCADE_REQUIRE_SERVICES") == "1"
)


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_SERVICES:
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError(
                f"{', '.join(missing)} not set: run the suite with `make test`, which starts "
                "PostgreSQL and Redis."
            )
        if not os.environ["DATABASE_URL"].startswith("postgres"):
            raise pytest.UsageError(
                "The suite runs against PostgreSQL (DATABASE_URL=postgres://...)."
            )


@pytest.fixture
def alice(db: Any) -> Any:
    from accounts.models import User

    return User.objects.create_user("alice@example.org", "alice-password-1")


@pytest.fixture
def bob(db: Any) -> Any:
    from accounts.models import User

    return User.objects.create_user("bob@example.org", "bob-password-1")


@pytest.fixture
def staff(db: Any) -> Any:
    from accounts.models import User

    return User.objects.create_superuser("carol@example.org", "carol-password-1")


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run in the calling thread; the integration test runs a real worker instead."""
    from arcade.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def redis_flushed() -> Iterator[None]:
    from recording import transfer

    transfer.client().ping()  # fails loudly when Redis is missing
    yield


def _catalogue_game(slug: str, **overrides: Any) -> Any:
    """A game of the default catalogue as `load_catalogue` installs it (with its AI players
    and seats, if it has any)."""
    from games.catalogue import DEFAULT_GAMES
    from games.services import catalogue_game_create

    entry = next(e for e in DEFAULT_GAMES if e["slug"] == slug)
    return catalogue_game_create(entry, **overrides)


@pytest.fixture
def pong(db: Any) -> Any:
    return _catalogue_game("pong")


@pytest.fixture
def hanoi(db: Any) -> Any:
    return _catalogue_game("tower-of-hanoi", env_kwargs={"n_disks": 3})


@pytest.fixture
def make_game(db: Any) -> Any:
    return _catalogue_game


@pytest.fixture(autouse=True)
def _fresh_content_types() -> None:
    """Transactional tests flush the database and content types come back with new ids."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
