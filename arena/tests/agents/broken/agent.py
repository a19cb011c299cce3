"""Fails on import: a submission that cannot load."""

import not_a_package_the_runtime_has  # noqa: F401
