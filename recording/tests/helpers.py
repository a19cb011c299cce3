"""Record an episode without a socket: the same services the live session uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from games.engine.machines import Outcome
from games.engine.multiplayer import MultiAtariMachine, multi_start_state
from games.engine.registry import multi_seat_name
from play import scripted
from recording import chunkfile, services, transfer
from recording.chunkfile import ChunkData
from recording.models import Episode
from recording.recorder import (
    HOLDER_VACANT,
    InputStamp,
    Recorder,
    SeatsRecord,
    holder_of_policy,
    holder_of_user,
    record_step,
)


def record_episode(
    *,
    user: Any,
    game: Any,
    steps: int,
    chunk_steps: int = 25,
    store: bool = True,
    **play: Any,
) -> tuple[Episode, list[np.ndarray]]:
    """Play ``steps`` steps, hand every chunk over and (``store``) store them as a worker would.

    ``play`` goes to ``scripted.play`` (``stamps``, ``sent``, ``policy``). Returns the episode
    and the frames as played, for comparison with what was stored.
    """
    played = scripted.play(
        user=user, game=game, steps=steps, chunk_steps=chunk_steps, keep_frames=True, **play
    )
    episode, chunks = played.episode, played.chunks
    for chunk in chunks:
        index = chunk.header["index"]
        transfer.put(str(episode.pk), index, chunkfile.encode(chunk))
        if store:
            services.chunk_store(episode_id=str(episode.pk), index=index)
    # Ended as the live session ends it; without storing, the test plays the worker itself.
    Episode.objects.filter(pk=episode.pk).update(chunks_expected=len(chunks), steps=steps)
    if store:
        services.episode_end(
            episode_id=str(episode.pk), reason="abandoned", steps=steps, chunks=len(chunks)
        )
    episode.refresh_from_db()
    return episode, played.frames


LONG_AGO = timedelta(minutes=5)


def died_mid_play(user: Any, game: Any, *, stored: int) -> Episode:
    """An episode of 5 chunks whose web process died before its final cut.

    ``stored`` chunks reached a worker; the rest wait in Redis, the final one never left.
    """
    episode, _ = record_episode(user=user, game=game, steps=100, chunk_steps=25, store=False)
    episode_id = str(episode.pk)
    transfer.discard(episode_id, 4)  # the final chunk (terminal frame only) was never cut
    for index in range(stored):
        services.chunk_store(episode_id=episode_id, index=index)
    Episode.objects.filter(pk=episode_id).update(
        status=Episode.Status.ACTIVE,
        chunks_expected=None,
        steps=0,
        heartbeat_at=timezone.now() - LONG_AGO,
    )
    return episode


# --- multi-seat episodes --------------------------------------------------------------------

PONG_FOR_TWO_KWARGS = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}


def pong_for_two(**overrides: Any) -> Any:
    """A catalogue entry for two-player Pong (``multi/pong``), made as the admin would."""
    from games.engine.multiplayer import multi_seat_game
    from games.models import Game

    pong = multi_seat_game("pong")
    fields: dict[str, Any] = {
        "slug": "pong-for-two",
        "title": "Pong for two",
        "env_id": "multi/pong",
        "env_kwargs": dict(PONG_FOR_TWO_KWARGS),
        "fps": 60,
        "max_steps": 36_000,
        "action_meanings": pong.action_meanings,
        "frame_shape": [210, 160],
        **overrides,
    }
    return Game.objects.create(**fields)


def holder_name(holder: services.SeatHolder) -> str:
    """How ``SeatsRecord.holders`` names a seat's holder."""
    if holder.user is not None:
        return holder_of_user(holder.user.pk)
    if holder.policy is not None:
        return holder_of_policy(holder.policy.pk)
    return HOLDER_VACANT


@dataclass
class MultiSeatPlay:
    episode: Episode
    frames: list[np.ndarray]  # as played
    joint_actions: list[list[int]]
    holders: list[list[str]]  # per step


def record_multi_seat_episode(
    *,
    game: Any,
    seats: list[services.SeatHolder],
    steps: int,
    seed: int = 7,
    chunk_steps: int = 25,
    hand_over: tuple[int, services.SeatHolder] | None = None,
    tamper: Callable[[ChunkData], None] | None = None,
    start_state: bool = False,
) -> MultiSeatPlay:
    """Play a multi-seat game as a live match would and store it through the workers' path.

    A person's seat holds each action for 10 steps (a key press every 10 steps, stamped); a
    policy's seat decides every 4 steps and holds its action in between (``fresh`` on the
    steps it decided); a vacant seat plays NOOP. ``hand_over`` (step, new holder) gives a seat
    to someone else from that step on (``seat_taken``). ``tamper`` may change each chunk
    before it is encoded (a corrupted recording).
    """
    machine = MultiAtariMachine(multi_seat_name(game.env_id), **game.env_kwargs)
    try:
        state = multi_start_state(machine.game.name, seed) if start_state else None
        colours = machine.start(seed, state)
        owner = next(h.user for h in seats if h.user is not None)
        episode = services.episode_start(
            user=owner,
            game=game,
            seed=seed,
            frame_shape=list(machine.frame.shape),
            pixel_format=machine.pixel_format,
            seats=seats,
        )
        recorder = Recorder(
            episode=str(episode.pk), pixel_format=machine.pixel_format, chunk_steps=chunk_steps
        )
        recorder.reset(machine.frame)
        assert machine.palette is not None
        recorder.add_colours(machine.palette.entries(colours))
        holders = {h.index: h for h in seats}
        played = MultiSeatPlay(
            episode=episode, frames=[machine.frame.copy()], joint_actions=[], holders=[]
        )
        chunks: list[ChunkData] = []
        n_actions = len(machine.actions)
        held = [0] * machine.seats
        for step in range(steps):
            if hand_over is not None and step == hand_over[0]:
                new = hand_over[1]
                services.seat_taken(
                    episode_id=str(episode.pk),
                    index=new.index,
                    kind=new.kind,
                    user=new.user,
                    policy=new.policy,
                    from_step=step,
                )
                holders[new.index] = new
            fresh, stamps = [], []
            for index in range(machine.seats):
                holder = holders[index]
                if holder.kind == "human":
                    held[index] = (step // 10 + index) % n_actions
                    press = step // 10 * 10
                    stamps.append(
                        InputStamp(
                            seq=step // 10 + 1,
                            client_frame=max(press - 2, 0),
                            t_shown=1000.0 + press * 16.7 + index,
                            t_key=1004.0 + press * 16.7 + index,
                            t_received=T0 + press / 60 + 0.004,
                            keys=(("ArrowUp",), ("ArrowDown",), ())[(step // 10) % 3],
                        )
                    )
                    fresh.append(True)
                elif holder.kind == "policy":
                    decides = step % 4 == 0
                    if decides:
                        held[index] = (step // 4 * 7 + index) % n_actions
                    stamps.append(InputStamp())
                    fresh.append(decides)
                else:
                    held[index] = 0
                    stamps.append(InputStamp())
                    fresh.append(False)
            joint = list(held)
            outcome = machine.step(joint)
            seat_0 = Outcome(
                reward=outcome.rewards[0],
                terminated=outcome.terminated,
                truncated=outcome.truncated,
                lives=outcome.lives[0],
                info=outcome.info,
            )
            names = [holder_name(holders[index]) for index in range(machine.seats)]
            record_step(
                recorder,
                machine,
                action=joint[0],
                outcome=seat_0,
                stamp=stamps[0],
                t_step=T0 + step / 60,
                truncated=outcome.truncated or step + 1 >= game.max_steps,
                seats=SeatsRecord(
                    actions=tuple(joint),
                    rewards=tuple(outcome.rewards),
                    stamps=tuple(stamps),
                    holders=tuple(names),
                    fresh=tuple(fresh),
                ),
            )
            recorder.sent(T0 + step / 60 + 0.0002)
            played.frames.append(machine.frame.copy())
            played.joint_actions.append(joint)
            played.holders.append(names)
            if recorder.pending_steps >= chunk_steps:
                cut = recorder.cut()
                assert cut is not None
                chunks.append(cut)
        final = recorder.cut(final=True)
        assert final is not None
        chunks.append(final)
    finally:
        machine.close()
    for chunk in chunks:
        if tamper is not None:
            tamper(chunk)
        transfer.put(str(episode.pk), chunk.header["index"], chunkfile.encode(chunk))
        services.chunk_store(episode_id=str(episode.pk), index=chunk.header["index"])
    services.episode_end(
        episode_id=str(episode.pk), reason="abandoned", steps=steps, chunks=len(chunks)
    )
    episode.refresh_from_db()
    return played


T0 = 1_764_000_000.0  # the step times' origin: a fixed wall clock, so nothing depends on now
