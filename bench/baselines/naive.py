"""The naive design the benchmark measures Arcade against: what the systems we replace do.

It is the straightforward way to put a Gymnasium game on a WebSocket, as a competent engineer
writes it without measuring first. It is the reference point, so do not optimise it:

- each episode builds its env with ``gymnasium.make`` and resets it on the event loop (no pool,
  no start states made elsewhere);
- the loop sleeps ``1/fps`` between steps (no deadline clock: step, encode, send and store
  time add to every frame's period);
- every step goes through Gymnasium's wrappers and comes back as an RGB array, which is sent
  as a base64 JPEG inside a JSON text message, with no flow control;
- every step is stored as its own objects, a lossless PNG and a JSON step record, by one
  ``sync_to_async`` call per frame (Django's default thread-sensitive mode), awaited in the loop.

It speaks docs/protocol.md like ``play.consumers.PlayConsumer`` except that frames are JSON
(``pixel_format`` "jpeg"), ``ack`` and ``keyframe`` are ignored, there is no rate limit, and
every game is stepped on the clock (it is meant for the Atari games).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from games.engine.keymap import KeyMap
from games.engine.registry import register_all
from games.models import Game
from play import protocol as p

log = logging.getLogger(__name__)

JPEG_QUALITY = 75
ACK_EVERY = 4  # announced in hello like ours; the naive design reads no acks
WINDOW = 12


def recorded_steps(episode_id: str) -> list[int]:
    """The step numbers of a naive episode whose ``.json`` records are stored, in order."""
    try:
        _dirs, files = default_storage.listdir(f"naive/{episode_id}")
    except FileNotFoundError:  # nothing stored yet (FileSystemStorage has no empty folders)
        return []
    return sorted(int(name.removesuffix(".json")) for name in files if name.endswith(".json"))


def count_recorded(episode_id: str) -> int:
    """How many steps of a naive episode are stored: its ``.json`` step records."""
    return len(recorded_steps(episode_id))


def store_frame(
    episode_id: str, number: int, frame: np.ndarray, step: dict[str, Any] | None
) -> None:
    """Store one frame as a PNG object and the step that produced it as a JSON object."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    default_storage.save(f"naive/{episode_id}/{number:06d}.png", ContentFile(buffer.getvalue()))
    if step is not None:  # frame 0 is the observation after reset: no step made it
        default_storage.save(
            f"naive/{episode_id}/{number:06d}.json", ContentFile(json.dumps(step).encode())
        )


def jpeg_base64(frame: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass
class NaiveEpisode:
    id: str
    seed: int
    env: gymnasium.Env[Any, Any]
    action: int
    input_seq: int = 0
    steps: int = 0
    score: float = 0.0


class NaiveConsumer(AsyncWebsocketConsumer):
    """ws/naive/<slug>/: one player's live game, the naive way."""

    game: Game | None = None
    keymap: KeyMap
    episode: NaiveEpisode | None = None
    loop_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        # Accept before refusing, as ours does, so the close code reaches the browser.
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=p.CLOSE_UNAUTHENTICATED)
            return
        slug = self.scope["url_route"]["kwargs"]["slug"]
        game = await Game.objects.playable().filter(slug=slug).afirst()
        if game is None:
            await self.close(code=p.CLOSE_NOT_FOUND)
            return
        self.game = game
        self.keymap = game.keymap()
        shape = game.frame_shape or [0, 0]
        await self.send_json(
            {
                "type": "hello",
                "protocol": p.PROTOCOL_VERSION,
                "game": {
                    "slug": game.slug,
                    "title": game.title,
                    "fps": game.fps,
                    "turn_based": game.turn_based,
                    "width": shape[1] if len(shape) > 1 else 0,
                    "height": shape[0],
                    "pixel_format": "jpeg",
                    "palette": None,
                    "keys": self.keymap.codes,
                    "max_steps": game.max_steps,
                },
                "ack_every": ACK_EVERY,
                "window": WINDOW,
            }
        )

    async def disconnect(self, code: int) -> None:
        await self._end_running(notify=False)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        game = self.game
        if game is None:
            return
        try:
            msg = p.parse_client_message(text_data)
            if msg["type"] == "input":
                episode = self.episode
                if episode is None:
                    raise p.ProtocolError("not_started", "No game is running; send start first.")
                episode.action = self.keymap.action_for(msg["keys"])
                episode.input_seq = msg["seq"]
            elif msg["type"] == "ping":
                await self.send_json({"type": "pong", "t": msg["t"]})
            elif msg["type"] == "start":
                await self._start(game)
            # ack and keyframe: the naive design has no flow control and sends whole frames.
        except p.ProtocolError as exc:
            await self.send_json({"type": "error", "code": exc.code, "message": exc.message})

    async def _start(self, game: Game) -> None:
        await self._end_running(notify=True)
        seed = secrets.randbits(31)
        env: gymnasium.Env[Any, Any] | None = None
        try:
            register_all()
            env = gymnasium.make(game.env_id, **game.env_kwargs)
            obs, info = env.reset(seed=seed)
        except Exception:
            log.exception("could not start %s", game.slug)
            if env is not None:
                env.close()
            await self.send_json(
                {
                    "type": "error",
                    "code": "start_failed",
                    "message": "The game could not be started; press New game to try again.",
                }
            )
            return
        episode = NaiveEpisode(id=str(uuid.uuid4()), seed=seed, env=env, action=game.default_action)
        self.episode = episode
        await self.send_json(
            {
                "type": "episode",
                "episode": episode.id,
                "seed": seed,
                "width": int(obs.shape[1]),
                "height": int(obs.shape[0]),
                "pixel_format": "jpeg",
                "palette": None,
            }
        )
        await self.send_json(self._frame_message(episode, 0, obs, flags=0, info=info))
        await sync_to_async(store_frame)(episode.id, 0, obs, None)
        self.loop_task = asyncio.create_task(self._play(game, episode))

    async def _play(self, game: Game, episode: NaiveEpisode) -> None:
        """Sleep a frame, step, send, store; until the episode ends."""
        env = episode.env
        while True:
            await asyncio.sleep(1 / game.fps)
            action = episode.action
            obs, reward, terminated, truncated, info = env.step(action)
            t_step = time.time()
            episode.steps += 1
            episode.score += float(reward)
            truncated = truncated or episode.steps >= game.max_steps
            over = terminated or truncated
            flags = (
                (p.FLAG_TERMINATED if terminated else 0)
                | (p.FLAG_TRUNCATED if truncated else 0)
                | (p.FLAG_EPISODE_OVER if over else 0)
            )
            frame = self._frame_message(episode, episode.steps, obs, flags=flags, info=info)
            await self.send_json(frame)
            step = {
                "frame": episode.steps,
                "action": action,
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "input_seq": frame["input_seq"],
                "t_step": t_step,
            }
            await sync_to_async(store_frame)(episode.id, episode.steps, obs, step)
            if over:
                self.episode = None
                self.loop_task = None
                env.close()
                await self._send_end(episode, "terminated" if terminated else "truncated")
                return

    async def _end_running(self, *, notify: bool) -> None:
        """Stop the running episode's loop and close its env; tell the client if it is there."""
        episode, task = self.episode, self.loop_task
        if episode is None:
            return
        self.episode, self.loop_task = None, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("game loop of %s failed", episode.id)
        episode.env.close()
        if notify:
            await self._send_end(episode, "abandoned")

    async def _send_end(self, episode: NaiveEpisode, reason: str) -> None:
        await self.send_json(
            {
                "type": "episode_end",
                "episode": episode.id,
                "reason": reason,
                "steps": episode.steps,
                "score": episode.score,
            }
        )

    def _frame_message(
        self,
        episode: NaiveEpisode,
        number: int,
        obs: np.ndarray,
        *,
        flags: int,
        info: dict[str, Any],
    ) -> dict[str, Any]:
        return {
            "type": "frame",
            "frame": number,
            "input_seq": episode.input_seq,
            "score": episode.score,
            "lives": int(info.get("lives", 0)),
            "flags": flags,
            "image": jpeg_base64(obs),
        }

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message))
