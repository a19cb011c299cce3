"""An agent's session: one match whose seat a program holds, stepped when it asks.

The match is the platform's one loop (``play/match.py``): an ``AgentSeat`` plays the action the
program sent, a ``RequestClock`` takes one step per request, and an ``AgentScreen`` (the
program's viewer) keeps what the step showed, read as the step is taken (the machine goes back
to its pool when an episode ends). Every episode is recorded, finalised and verified by the
workers like a person's, with the agent's seat, name and version.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np
from asgiref.sync import sync_to_async
from django.conf import settings

from games.engine import codec
from games.engine.machines import GameConfig, Outcome
from games.models import Game
from play import engine
from play import protocol as p
from play.clocks import RequestClock
from play.match import EndReason, Match
from play.seats import AgentSeat, Holder
from play.sink import DjangoSink
from play.viewers import Viewer

from .options import Options
from .scope import agent_context
from .wire import Observation

# The 18 actions of ALE's full action space, in its order (``full_action_space``).
FULL_ACTIONS = [
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT",
    "DOWNLEFT", "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE",
    "DOWNRIGHTFIRE", "DOWNLEFTFIRE",
]  # fmt: skip


class Quiet:
    """The program's transport for the match's own messages, which it does not read (it is
    answered in OpenEnv's terms by its consumer); attached while its socket is. A screen in a
    room listens for the two it must know of: the waiting room cancelled, the episode ended."""

    def __init__(self) -> None:
        self.attached = True
        self.screen: AgentScreen | None = None

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def send_json(self, message: Any) -> None:
        screen = self.screen
        if screen is None or not isinstance(message, dict):
            return
        if message.get("type") == "lobby" and message.get("state") == "cancelled":
            screen.fail(
                p.ProtocolError(
                    "lobby_cancelled",
                    f"The game did not start ({message.get('reason', 'cancelled')}): nobody "
                    "took the other seats in time. Reset to wait again.",
                )
            )
        elif message.get("type") == "episode_end":
            screen.ended(str(message.get("reason", "abandoned")))


class AgentScreen(Viewer):
    """The program's viewer: the observation of each step, as its ``obs_type`` asks, of its
    own seat (its reward is its seat's score's change). ``next()`` waits for the next one."""

    def __init__(
        self, match: Match, obs_type: str, legal: int, frameskip: int, *, seat: int = 0
    ) -> None:
        transport = Quiet()
        super().__init__(transport, window=1 << 30, seat=seat)
        transport.screen = self
        self.match = match
        self.obs_type = obs_type
        self.legal = legal
        self.frameskip = frameskip
        self.seen: Observation | None = None
        self._painted = Painted()
        self.score = 0.0
        self._next: asyncio.Future[Observation] | None = None

    def next(self) -> asyncio.Future[Observation]:
        """The observation of the next frame the match shows (a room's clock steps on its own)."""
        if self._next is None or self._next.done():
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    def fail(self, error: Exception) -> None:
        if self._next is not None and not self._next.done():
            self._next.set_exception(error)
            self._next.exception()  # told to whoever awaits it; no one may (a closed session)

    def ended(self, reason: str) -> None:
        """The episode ended, maybe between its steps (a player left): what was last seen is
        the last observation, done."""
        seen = self.seen
        if seen is None:
            self.fail(p.ProtocolError("episode_over", f"The game ended ({reason})."))
            return
        if not seen.done:
            self.seen = seen = dataclasses.replace(
                seen, reward=0.0, done=True, truncated=reason != "terminated"
            )
        if self._next is not None and not self._next.done():
            self._next.set_result(seen)

    async def send_frame(
        self,
        *,
        number: int,
        frame: np.ndarray,
        pixel_format: str,
        outcome: Outcome,
        score: float,
        lives: int,
        input_seq: int,
        words: codec.Sparse | None = None,
    ) -> bool:
        reward, self.score = score - self.score, score
        self.seen = seen = Observation(
            screen=self._screen(frame, None if words is None else words[0]),
            legal=self.legal,
            lives=lives,
            # ALE's frame numbers count emulator frames, as OpenEnv's do: frameskip a step.
            frame=number * self.frameskip,
            reward=reward,
            done=outcome.terminated or outcome.truncated,
            truncated=outcome.truncated and not outcome.terminated,
            obs_type=self.obs_type,
            episode_id=self.match.episode.id if self.match.episode is not None else "",
        )
        if self._next is not None and not self._next.done():
            self._next.set_result(seen)
        return True

    def _screen(self, frame: np.ndarray, changed: np.ndarray | None) -> np.ndarray:
        """From the frame's palette indices (every colour of it is learned by now), so a
        machine in this process and one hosted in another show exactly the same. ``changed``:
        the frame's 8-byte words that changed since the frame before (None: a first frame)."""
        if self.obs_type == "palette":
            return frame.copy()
        episode = self.match.episode
        machine: Any = episode.machine if episode is not None else None
        if self.obs_type == "ram":
            return np.array(machine.ram(), np.uint8)
        rgb = machine.palette.rgb
        colours = grayscale(rgb) if self.obs_type == "grayscale" else rgb
        return self._painted.paint(frame, colours, changed)


class Painted:
    """A screen in colour (RGB, or grayscale) painted from a frame's palette indices and kept
    between frames, so that each frame repaints only its words that changed: a few dozen of
    Pong's 4,200 8-byte words a step, where looking up the whole frame (``rgb[frame]``) took
    0.33 ms, as long as the emulator's step. A colour once learned never changes within an
    episode, so an unchanged word's pixels keep theirs."""

    def __init__(self) -> None:
        self._screen: np.ndarray | None = None

    def paint(
        self, frame: np.ndarray, colours: np.ndarray, changed: np.ndarray | None
    ) -> np.ndarray:
        """``colours[frame]``, as a new array the caller keeps. ``changed``: the indices of
        the 8-byte words of ``frame`` that differ from the frame painted last (None: paint
        every pixel, as for the first frame of an episode)."""
        screen = self._screen
        if (
            changed is None
            or screen is None
            or screen.shape != frame.shape + colours.shape[1:]
            or frame.size % codec.WORD
        ):
            # take, not colours[frame]: the same pixels, four times as fast.
            screen = self._screen = np.take(colours, frame, axis=0)
        elif changed.size:
            width = screen.size // frame.size * codec.WORD  # bytes of one word's pixels
            pixels = frame.reshape(-1, codec.WORD)[changed]
            screen.reshape(-1, width)[changed] = np.take(colours, pixels, axis=0).reshape(
                changed.size, width
            )
        return screen.copy()


def grayscale(rgb: np.ndarray) -> np.ndarray:
    """ALE's grayscale of each palette colour: its luma, rounded (as ``getScreenGrayscale``)."""
    luma = rgb.astype(np.float32) @ np.array([0.2989, 0.5870, 0.1140], np.float32)
    return np.round(luma).astype(np.uint8)


class AgentSession:
    """One program's match: reset (a new episode), step, state, close."""

    def __init__(self, *, user: Any, token_prefix: str, game: Game, options: Options) -> None:
        self.user = user
        self.token_prefix = token_prefix
        self.game = game
        self.options = options
        self.match: Match | None = None
        self.screen: AgentScreen | None = None
        self.seat: AgentSeat | None = None
        self.clock: RequestClock[EndReason] | None = None
        self.steps = 0
        self.done = False
        self.episode_id = ""
        self.seed: int | None = None
        self.max_steps = 0

    async def reset(self) -> Observation:
        await self.close("restarted")
        config: GameConfig = self.options.config(await sync_to_async(self.game.config)())
        meanings = FULL_ACTIONS if self.options.full_action_space else self.game.action_meanings
        spec = {
            **self.game.env_spec(),
            "env_kwargs": config.env_kwargs,
            "max_steps": config.max_steps,
            "action_meanings": meanings,
        }
        self.seat = AgentSeat(
            n_actions=len(meanings),
            default_action=0,
            holder=Holder("agent", user_id=self.user.pk, name=self.options.agent_name),
        )
        self.clock = RequestClock[EndReason](float(settings.ARCADE["CHUNK_SECONDS"]))
        sink = DjangoSink(
            user=self.user,
            game=self.game,
            context=agent_context(
                name=self.options.agent_name,
                version=self.options.agent_version,
                token_prefix=self.token_prefix,
            ),
            env_spec=spec,
        )
        match = Match(
            game=config,
            store=sink,
            pool=engine.pool(),
            settings=engine.live_settings(),
            seats=[self.seat],
            clock=self.clock,
        )
        self.screen = AgentScreen(
            match, self.options.obs_type, len(meanings), self.options.frameskip
        )
        match.viewers.append(self.screen)
        self.match = match
        engine.hosting_program(match)
        await match.start(seed=self.options.seed)
        assert match.episode is not None
        self.episode_id = match.episode.id
        self.seed = match.episode.seed
        self.max_steps = config.max_steps
        match.begin()
        self.steps = 0
        self.done = False
        seen = self.screen.seen
        assert seen is not None  # the start sent the first frame
        return seen

    async def step(self, action: int) -> Observation:
        if self.match is None or self.seat is None or self.clock is None or self.screen is None:
            raise p.ProtocolError("not_started", "Send reset first: there is no episode yet.")
        if self.done:
            raise p.ProtocolError("episode_over", "The episode is over: send reset for a new one.")
        self.seat.act(action)
        await self.clock.request()
        self.steps += 1
        seen = self.screen.seen
        assert seen is not None
        self.done = seen.done
        return seen

    async def close(self, reason: EndReason = "abandoned") -> None:
        match, self.match = self.match, None
        if match is not None:
            if self.screen is not None:
                self.screen.transport.attached = False  # type: ignore[misc]
            await match.stop(reason)
