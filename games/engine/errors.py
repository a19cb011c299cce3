"""Errors the engine raises to its callers, in a module that imports nothing, so that every
engine module can raise them without importing another's dependencies."""

from __future__ import annotations


class ReplayError(Exception):
    """The episode cannot be replayed (unknown env, bad action, unreadable checkpoint)."""
