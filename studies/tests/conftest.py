"""The cast of the export tests (studies/tests/cast.py)."""

from __future__ import annotations

from typing import Any

import pytest

from studies.tests.cast import Walked, walk_the_cast


@pytest.fixture
def walked(pong: Any) -> Walked:
    """Pat, Max and Lee completed "reflexes"; Wendy played and withdrew; Dora declined."""
    return walk_the_cast(pong)
