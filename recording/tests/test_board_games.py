"""Board games between two programs, as the arena will run them: stepped by the one match loop
(``Match.advance``), recorded, stored through the workers' path and verified by replaying the
joint actions, refused moves included; a recording that lies about a move is found out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from games.engine.boards import BoardMachine
from games.engine.machines import build_machine
from play.match import Episode as Running
from play.match import LiveSettings, Match
from play.seats import Holder, ScriptedSeat
from recording import chunkfile, services, transfer
from recording.chunkfile import ChunkData
from recording.models import Episode, EpisodeSeat
from recording.recorder import Recorder
from recording.services import SeatHolder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

V = Episode.Verification


def program(machine: BoardMachine, seat: int, rng: np.random.Generator) -> Callable[[int], int]:
    """A program that plays a random legal move on its turn, except its first move, which it
    botches with NOOP (refused: the board stays as it was, the step is recorded)."""
    botched = False

    def act(step: int) -> int:
        nonlocal botched
        legal = np.flatnonzero(machine.action_mask(seat))
        if legal.size == 0:
            return machine.game.noop  # not its turn
        if not botched:
            botched = True
            return machine.game.noop
        return int(rng.choice(legal))

    return act


def play_programs(
    game: Any,
    owners: list[Any],
    *,
    seed: int = 3,
    tamper: Callable[[ChunkData], None] | None = None,
) -> tuple[Episode, list[dict[str, Any]]]:
    """Two programs play ``game`` to its end; the episode once the workers are done, and each
    step's info."""
    config = game.config()
    machine = build_machine(config)
    assert isinstance(machine, BoardMachine)
    machine.start(seed, None)
    holders = [
        SeatHolder(index=i, kind="agent", user=owner, role=role)
        for i, (owner, role) in enumerate(zip(owners, machine.game.roles, strict=True))
    ]
    episode = services.episode_start(
        user=owners[0],
        game=game,
        seed=seed,
        frame_shape=list(machine.frame.shape),
        pixel_format=machine.pixel_format,
        seats=holders,
    )
    recorder = Recorder(episode=str(episode.pk), pixel_format=machine.pixel_format, chunk_steps=8)
    recorder.reset(machine.frame)
    rng = np.random.default_rng(seed)
    seats = [
        ScriptedSeat(
            program(machine, i, rng), holder=Holder("agent", user_id=owners[i].pk, name="random")
        )
        for i in range(2)
    ]
    match = Match(
        game=config, store=None, pool=None, settings=LiveSettings(chunk_steps=8), seats=seats
    )
    running = Running(
        episode_id=str(episode.pk), seed=seed, machine=machine, recorder=recorder, seats=2
    )
    chunks: list[ChunkData] = []
    infos = []
    while True:
        stepped = match.advance(running)
        infos.append(stepped.info)
        if stepped.terminated or stepped.truncated:
            break
        if recorder.pending_steps >= 8:
            cut = recorder.cut()
            assert cut is not None
            chunks.append(cut)
    final = recorder.cut(final=True)
    assert final is not None
    chunks.append(final)
    for chunk in chunks:
        if tamper is not None:
            tamper(chunk)
        transfer.put(str(episode.pk), chunk.header["index"], chunkfile.encode(chunk))
        services.chunk_store(episode_id=str(episode.pk), index=chunk.header["index"])
    services.episode_end(
        episode_id=str(episode.pk),
        reason="terminated" if stepped.terminated else "truncated",
        steps=recorder.steps,
        chunks=len(chunks),
    )
    episode.refresh_from_db()
    return episode, infos


@pytest.mark.parametrize("slug", ["tictactoe-2p", "connect-four-2p", "quarto-2p"])
def test_it_verifies_a_game_between_two_programs_refused_moves_and_all(
    slug: str, make_game: Any, alice: Any, bob: Any
) -> None:
    episode, infos = play_programs(make_game(slug), [alice, bob])

    assert [info["illegal"] for info in infos[:3]] == [True, False, True]  # both botched once
    assert episode.status == Episode.Status.COMPLETE, episode.integrity_error
    assert episode.verification == V.VERIFIED, episode.verification_detail
    assert episode.steps == len(infos)
    seats = list(EpisodeSeat.objects.filter(episode=episode).order_by("index"))
    assert [(s.kind, s.user_id) for s in seats] == [("agent", alice.pk), ("agent", bob.pk)]


def test_it_finds_a_move_the_recording_says_was_another(
    make_game: Any, alice: Any, bob: Any
) -> None:
    def move_elsewhere(chunk: ChunkData) -> None:
        if chunk.header["index"] == 0:
            joint = chunk.header["steps"]["seat_actions"][3]
            assert joint is not None
            joint[1] = (joint[1] + 1) % 7  # step 3: seat 1's disc "went" to the next column

    episode, _ = play_programs(make_game("connect-four-2p"), [alice, bob], tamper=move_elsewhere)

    assert episode.verification == V.MISMATCH
    assert episode.verified_steps == 3
    assert "differs from the replay" in episode.verification_detail
