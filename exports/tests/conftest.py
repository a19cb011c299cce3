"""A cast for exports: Alice and Bob play, Sam is staff, Tess is a test account."""

from __future__ import annotations

from typing import Any

import pytest

from recording.tests.helpers import record_episode


@pytest.fixture
def recorded(eager_celery: None, redis_flushed: None) -> Any:
    """Record an episode and finalise it, as the live platform would."""

    def record(*, user: Any, game: Any, steps: int = 60, **changes: Any) -> Any:
        episode, played = record_episode(user=user, game=game, steps=steps)
        episode.refresh_from_db()
        assert episode.status == "complete", episode.integrity_error
        if changes:
            type(episode).objects.filter(pk=episode.pk).update(**changes)
            episode.refresh_from_db()
        episode.played = played  # type: ignore[attr-defined]
        return episode

    return record


@pytest.fixture
def sam(db: Any) -> Any:
    from accounts.models import User

    return User.objects.create_user("sam@example.org", "sam-password-1", is_staff=True)


@pytest.fixture
def tess(db: Any) -> Any:
    from accounts.models import User

    return User.objects.create_user("tess@example.org", "tess-password-1", is_test_account=True)
