"""The process-wide pieces the live sessions share: the machine pool and its settings."""

from __future__ import annotations

import functools
import logging
import threading

from django.conf import settings

from games.engine.pool import MachinePool

from .live import LiveSettings

log = logging.getLogger(__name__)


@functools.cache
def pool() -> MachinePool:
    return MachinePool(use_helper=bool(settings.ARCADE["SEED_IN_HELPER"]))


@functools.cache
def live_settings() -> LiveSettings:
    conf = settings.ARCADE
    return LiveSettings(
        chunk_steps=conf["CHUNK_STEPS"],
        chunk_seconds=conf["CHUNK_SECONDS"],
        window=conf["SEND_WINDOW"],
        ack_every=conf["ACK_EVERY"],
    )


def prewarm_in_background() -> None:
    """Build idle machines for every enabled game before players arrive."""
    per_game = settings.ARCADE["PREWARM"]
    if per_game <= 0:
        return

    def work() -> None:
        from games.models import Game

        try:
            games = Game.objects.playable()
            if settings.ARCADE["PREWARM_GAMES"]:
                games = games.filter(slug__in=settings.ARCADE["PREWARM_GAMES"])
            configs = [g.config() for g in games]
        except Exception:  # no tables yet (before migrate): nothing to warm
            log.info("no catalogue to prewarm")
            return
        pool().prewarm(configs, per_game)
        log.info("prewarmed %d machine(s) for %d game(s)", per_game, len(configs))

    threading.Thread(target=work, name="arcade-prewarm", daemon=True).start()
