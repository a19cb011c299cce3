"""Workers' notices to the players' pages: sent through the channel layer, never a failure."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import LazySettings

from recording.notices import EpisodeFinalised, notify_player, player_group

NOTICE = EpisodeFinalised(
    type="episode.finalised",
    episode="6a1f0b2e-0000-4000-8000-000000000001",
    status="complete",
    verification="verified",
    steps=120,
)


def test_it_reaches_the_players_page_past_members_that_are_gone() -> None:
    layer = get_channel_layer()
    assert layer is not None
    page = async_to_sync(layer.new_channel)()
    group = player_group(1_000_007)
    # A socket of a process that died (its channel is nobody's now) and one of this process
    # that closed without leaving the group.
    async_to_sync(layer.group_add)(group, "specific.deadprocess!socket")
    async_to_sync(layer.group_add)(group, async_to_sync(layer.new_channel)())
    async_to_sync(layer.group_add)(group, page)

    notify_player(user_id=1_000_007, notice=NOTICE)  # from a worker: no event loop of its own

    async def receive() -> dict[str, Any]:
        return dict(await asyncio.wait_for(layer.receive(page), 5))

    assert async_to_sync(receive)() == dict(NOTICE)


def test_it_sends_nothing_and_raises_nothing_when_nobody_has_a_page_open() -> None:
    notify_player(user_id=1_000_008, notice=NOTICE)


def test_it_only_logs_when_the_channel_layer_is_unreachable(
    settings: LazySettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "arcade.layers.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},  # the discard port: refused
        }
    }
    with caplog.at_level(logging.WARNING, logger="play.notices"):
        notify_player(user_id=1_000_009, notice=NOTICE)

    assert f"could not tell player 1000009 about {NOTICE['episode']}" in caplog.text
