"""Notices from the workers to the players' open pages, on whichever web process hosts them.

Recording sends them; the play socket (``play/consumers.py``) passes them on to its page.

A worker finalises an episode; the page that played it may be on any web process, or on none.
Every play socket joins its player's group ``player.<user id>`` on the channel layer (Redis),
so one group send from any process reaches all of that player's open pages, and none when
there are none. The group is the player's, not the episode's: a game resumed on another
process, or finished in another tab, needs no re-joining, and each page shows only the
notices of the episodes it played (static/js/play.js).

Nothing depends on a notice arriving: a closed socket drops it, and My episodes shows the
same status and verdict from the database.
"""

from __future__ import annotations

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


class EpisodeFinalised(TypedDict):
    """An episode's data is stored and checked: its status and replay verdict."""

    type: Literal["episode.finalised"]
    episode: str
    status: str
    verification: str
    steps: int


def player_group(user_id: int) -> str:
    return f"player.{user_id}"


def notify_player(*, user_id: int, notice: EpisodeFinalised) -> None:
    """Send from synchronous code (a worker's task); never raises: a notice is a courtesy.

    In a worker, async_to_sync runs the send on a short-lived event loop of its own (the layer
    keeps one connection pool per loop and closes it with the loop); only sends happen there,
    never receives, so no receive state of the layer is tied to those loops.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # Members whose socket or process is gone cost one write that expires unread.
        async_to_sync(layer.group_send)(player_group(user_id), dict(notice))
    except Exception:
        log.warning("could not tell player %s about %s", user_id, notice["episode"], exc_info=True)
