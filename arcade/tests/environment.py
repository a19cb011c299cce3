"""Test settings, as environment variables set before Django reads its settings.

Loaded as a pytest plugin (``-p arcade.tests.environment`` in pyproject.toml), which is
imported before pytest-django sets Django up; a conftest.py would be read too late.
"""

from __future__ import annotations

import os
import tempfile

# No prewarming in tests, and seeds made in-process unless a test asks for the helper process.
os.environ.setdefault("ARCADE_PREWARM", "0")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="arcade-media-"))
# Connections close after each use, as the test runner needs to drop its database at the end
# (a persistent connection left in a consumer's thread would hold it open).
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
# A closed socket ends its episode at once, unless a test asks for a grace period.
os.environ.setdefault("ARCADE_RECONNECT_GRACE_SECONDS", "0")
