"""The bench's settings for ``bench study``: Arcade's, with a plain page beside the study's."""

from arcade.settings import *  # noqa: F403

ROOT_URLCONF = "bench.study_urls"
