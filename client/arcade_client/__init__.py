"""Arcade's Python client: play an Arcade server's games from training code.

``Client`` and ``AsyncClient`` speak the agent socket; ``ArcadeEnv`` is a Gymnasium env over
one session, ``ArcadeVectorEnv`` many sessions over one socket. Importing the package registers
``Arcade-v0`` with Gymnasium, so ``gymnasium.make("arcade_client:Arcade-v0", game_name=...)``
and ``gymnasium.make_vec(...)`` find it.
"""

from __future__ import annotations

import gymnasium

from . import wire
from .aio import AsyncClient
from .client import Client
from .env import ArcadeEnv
from .spaces import NoActionMeaningsError
from .vector import ArcadeVectorEnv
from .wire import ArcadeError, Observation, ResetOptions, SessionOptions, State

__all__ = [
    "ArcadeEnv",
    "ArcadeError",
    "ArcadeVectorEnv",
    "AsyncClient",
    "Client",
    "NoActionMeaningsError",
    "Observation",
    "ResetOptions",
    "SessionOptions",
    "State",
    "wire",
]
__version__ = "0.1.0"

if "Arcade-v0" not in gymnasium.registry:
    gymnasium.register(
        id="Arcade-v0",
        entry_point="arcade_client.env:ArcadeEnv",
        vector_entry_point="arcade_client.vector:ArcadeVectorEnv",
    )
