"""Episodes played by a script instead of a person, recorded exactly as a live match records
them: a ``Match`` with a scripted seat, stepped as fast as the script answers (its ``advance``,
the one place a step is taken and recorded), with no viewer and no socket.

For the tests, the benchmarks and anyone who wants a stored episode without playing one; what
happens to the chunks next (hand-over to the workers, or storage directly) is the caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from games.engine.machines import Machine, atari_start_state, build_machine
from games.engine.registry import is_atari
from recording import services
from recording.chunkfile import ChunkData
from recording.models import Episode
from recording.recorder import InputStamp, Recorder

from . import contexts
from . import match as live
from .seats import ScriptedSeat

Policy = Callable[[int, Machine], int]  # (step, machine) -> action
Stamps = Callable[[int], tuple[InputStamp, float]]  # step -> (input stamp, step time)
Sent = Callable[[int], float | None]  # step -> when its frame went out (None: dropped)


def hold_each_action(steps: int) -> Policy:
    """A player who holds each action for ``steps`` steps, going through them in turn."""

    def policy(step: int, machine: Machine) -> int:
        return step // steps % len(machine.action_meanings)

    return policy


def pressed_with(policy_steps: int) -> Stamps:
    """Input stamps as a key press every ``policy_steps`` steps gives them, at real time."""

    def stamps(step: int) -> tuple[InputStamp, float]:
        return InputStamp(seq=step // policy_steps), time.time()

    return stamps


@dataclass
class Played:
    episode: Episode
    chunks: list[ChunkData]
    actions: list[int] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)  # as played, when kept


def play(
    *,
    user: Any,
    game: Any,
    steps: int,
    seed: int = 7,
    chunk_steps: int = 25,
    policy: Policy | None = None,
    stamps: Stamps | None = None,
    sent: Sent | None = None,
    start_state: bool = False,
    keep_frames: bool = False,
    stop_when_over: bool = False,
) -> Played:
    """Start an episode of ``game`` for ``user`` and play ``steps`` steps into chunks.

    ``start_state`` starts an ALE game as the live loop does, from a seeded start state made
    by ``atari_start_state``, rather than by ``reset(seed)`` (the two agree). ``sent`` gives
    the time each step's frame went to the player, as the live loop marks it (default: none
    sent). The machine is closed before returning.
    """
    policy = policy or hold_each_action(10)
    stamps = stamps or pressed_with(10)
    config = game.config()
    machine = cast(Machine, build_machine(config))  # a one-seat game's
    try:
        state = None
        if start_state and is_atari(config.env_id):
            state = atari_start_state(config.env_id, config.env_kwargs, seed)
        colours = machine.start(seed, state)
        episode = services.episode_start(
            user=user,
            game=game,
            seed=seed,
            frame_shape=list(machine.frame.shape),
            pixel_format=machine.pixel_format,
            # As the live sink asks: a script playing for a study's participant in a game
            # block plays that block's episode.
            context=contexts.for_episode([user], game),
        )
        recorder = Recorder(
            episode=str(episode.pk), pixel_format=machine.pixel_format, chunk_steps=chunk_steps
        )
        recorder.reset(machine.frame)
        if machine.palette is not None:
            recorder.add_colours(machine.palette.entries(colours))
        played = Played(episode=episode, chunks=[])
        if keep_frames:
            played.frames.append(machine.frame.copy())
        t_steps: list[float] = []

        def stamp_of(step: int) -> InputStamp:
            stamp, t_step = stamps(step)
            t_steps.append(t_step)
            return stamp

        seat = ScriptedSeat(lambda step: policy(step, machine), stamp_of=stamp_of)
        game_match = live.Match(
            game=config,
            store=None,
            pool=None,
            settings=live.LiveSettings(chunk_steps=chunk_steps),
            seats=[seat],
        )
        running = live.Episode(
            episode_id=str(episode.pk), seed=seed, machine=machine, recorder=recorder, seats=1
        )
        for step in range(steps):
            stepped = game_match.advance(running, t_step_of=lambda: t_steps[-1])
            t_sent = sent(step) if sent is not None else None
            if t_sent is not None:
                recorder.sent(t_sent)
            played.actions.append(stepped.actions[0])
            if keep_frames:
                played.frames.append(machine.frame.copy())
            if stop_when_over and (stepped.terminated or stepped.truncated):
                break
            if recorder.pending_steps >= chunk_steps:
                cut = recorder.cut()
                assert cut is not None
                played.chunks.append(cut)
        final = recorder.cut(final=True)
        assert final is not None
        played.chunks.append(final)
        return played
    finally:
        machine.close()
