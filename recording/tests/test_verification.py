"""Replay verification: every episode replayed from its seed and actions, every frame compared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage

from recording import chunkfile, services, stepcolumns, transfer, verification
from recording.models import Chunk, Episode, Transition
from recording.tasks import verify_episodes

from .helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

V = Episode.Verification


def handed_over(user: Any, game: Any, steps: int, chunk_steps: int = 25) -> Episode:
    """Played and handed to the workers, nothing stored yet."""
    episode, _ = record_episode(
        user=user, game=game, steps=steps, chunk_steps=chunk_steps, store=False
    )
    return episode


def store_all(episode: Episode) -> None:
    """Store every chunk the way the workers do (batches of one), in order."""
    for index in range(episode.chunks_expected or 0):
        services.chunks_store(refs=[(str(episode.pk), index)])


def end(episode: Episode) -> Episode:
    """The live session ends the episode; finalisation (eager here) follows."""
    Episode.objects.filter(pk=episode.pk).update(status=Episode.Status.ACTIVE)
    services.episode_end(
        episode_id=str(episode.pk),
        reason="abandoned",
        steps=episode.steps,
        chunks=episode.chunks_expected or 0,
    )
    episode.refresh_from_db()
    return episode


def rewrite_chunk(
    episode: Episode, index: int, change: Callable[[chunkfile.ChunkHeader, np.ndarray], None]
) -> None:
    """Decode chunk ``index`` waiting in Redis, ``change`` its header or frames, put it back."""
    episode_id = str(episode.pk)
    previous = None
    for earlier in range(index):  # the chunk's first frame is coded against the one before
        blob = transfer.get(episode_id, earlier)
        assert blob is not None
        previous = chunkfile.decode(blob, previous)[1][-1]
    blob = transfer.get(episode_id, index)
    assert blob is not None
    header, frames = chunkfile.decode(blob, previous)
    change(header, frames)
    base = None if header["keyframe"] else previous
    transfer.put(episode_id, index, chunkfile.encode(chunkfile.chunk_of(header, frames, base)))


def tamper_frame(episode: Episode, number: int) -> None:
    """Change one pixel of frame ``number`` in the chunk waiting in Redis (chunks of 25)."""

    def change(header: chunkfile.ChunkHeader, frames: np.ndarray) -> None:
        frames[number % 25, 100, 30] ^= 0x0E

    rewrite_chunk(episode, number // 25, change)


def tamper_step(episode: Episode, step: int, **values: Any) -> None:
    """Change step ``step``'s columns in the chunk waiting in Redis (chunks of 25), so its
    Transition rows, copied from the chunk when it is stored, say the same."""

    def change(header: chunkfile.ChunkHeader, frames: np.ndarray) -> None:
        columns = stepcolumns.by_name(header["steps"])
        for name, value in values.items():
            columns[name][step % 25] = value

    rewrite_chunk(episode, step // 25, change)


def test_it_verifies_a_recorded_episode_when_it_is_finalised(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=120)

    assert episode.status == Episode.Status.COMPLETE
    assert episode.verification == V.VERIFIED
    assert episode.verification_detail == "120 steps and 121 frames replayed identically"
    assert episode.verified_steps == 120
    assert episode.verified_at is not None


def test_it_finds_a_tampered_stored_frame_at_that_frame(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=120)
    tamper_frame(episode, 33)
    store_all(episode)

    episode = end(episode)

    assert episode.status == Episode.Status.COMPLETE  # the data adds up; it is just not true
    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == (
        "frame 33 differs from the replay (first differing pixel at row 100, col 30)"
    )
    assert episode.verified_steps == 32


def test_it_finds_a_colour_the_palette_does_not_name(alice: Any, pong: Any) -> None:
    # What a pooled machine once recorded: a palette that lacks colours its frames show.
    episode = handed_over(alice, pong, steps=60)
    episode_id = str(episode.pk)
    previous = None
    for index in range(episode.chunks_expected or 0):
        blob = transfer.get(episode_id, index)
        assert blob is not None
        header, frames = chunkfile.decode(blob, previous)
        if index == 1:
            shown = set(np.unique(frames).tolist())
            header["palette"] = [e for e in header["palette"] or [] if e[0] != max(shown)]
            rewritten = chunkfile.chunk_of(header, frames, None if header["keyframe"] else previous)
            transfer.put(episode_id, index, chunkfile.encode(rewritten))
        previous = frames[-1]
    store_all(episode)

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail.startswith("frame 25 shows palette indices [")
    assert episode.verified_steps == 24


def test_it_finds_a_tampered_action_where_the_game_shows_it(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=120)
    tamper_step(episode, 60, action=3)  # was NOOP
    store_all(episode)

    episode = end(episode)

    # Atari games read the joystick a frame late: step 60's action shows on frame 62.
    assert episode.verification == V.MISMATCH
    assert episode.verification_detail.startswith("frame 62 differs from the replay")
    assert episode.verified_steps == 61


def test_it_finds_a_tampered_reward_at_its_step(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=120)
    tamper_step(episode, 77, reward=1.0)
    store_all(episode)

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == (
        "step 77 differs from the replay: stored reward 1.0 and terminated False, "
        "replayed 0.0 and False"
    )
    assert episode.verified_steps == 77


def test_it_finds_tampered_lives_at_their_step(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=60)
    tamper_step(episode, 30, info={"lives": 9})
    store_all(episode)

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == (
        "step 30 differs from the replay: stored lives 9, replayed 0"
    )
    assert episode.verified_steps == 30


# --- the Transition rows agree with the chunks ----------------------------------------------


def test_it_verifies_transition_rows_that_agree_with_their_chunks(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=60)
    store_all(episode)
    rows = list(episode.transitions.order_by("step").values_list("step", "action", "reward"))

    episode = end(episode)

    assert episode.verification == V.VERIFIED
    assert [step for step, _, _ in rows] == list(range(60))
    assert [action for _, action, _ in rows] == [step // 10 % 6 for step in range(60)]


def test_it_finds_a_transition_row_whose_reward_was_changed(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=120)
    store_all(episode)
    Transition.objects.filter(episode=episode, step=77).update(reward=1.0)

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == (
        "the transition row of step 77 differs from its chunk: reward 1.0 in the row, "
        "0.0 in chunk 3"
    )
    assert episode.verified_steps == 77


def test_it_finds_a_transition_row_whose_action_was_changed(alice: Any, pong: Any) -> None:
    # What the exports publish is replayed (the chunk's action): the row alone differs.
    episode = handed_over(alice, pong, steps=120)
    store_all(episode)
    Transition.objects.filter(episode=episode, step=60).update(action=3)

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail.startswith(
        "the transition row of step 60 differs from its chunk: action 3 in the row, 0 in chunk 2"
    )


def test_it_finds_a_transition_row_marked_truncated(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=60)
    store_all(episode)
    Transition.objects.filter(episode=episode, step=12).update(truncated=True)

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == (
        "the transition row of step 12 differs from its chunk: truncated True in the row, "
        "False in chunk 0"
    )


def test_it_finds_a_step_without_a_transition_row(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=60)
    store_all(episode)
    Transition.objects.filter(episode=episode, step=40).delete()

    episode = end(episode)

    assert episode.status == Episode.Status.INCOMPLETE  # the audit counts the rows too
    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == "step 40 is in chunk 1 but has no transition row"
    assert episode.verified_steps == 40


def test_it_finds_a_transition_row_past_the_last_step(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=60)
    store_all(episode)
    last = Transition.objects.get(episode=episode, step=59)
    last.pk, last.step = None, 60
    last.save()

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail == (
        "step 60 has a transition row, but the chunks end the episode after 60 steps"
    )
    assert episode.verified_steps == 60


def test_it_fails_with_the_reason_when_a_chunk_never_arrived(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=60)
    transfer.discard(str(episode.pk), 1)
    services.chunks_store(refs=[(str(episode.pk), 0), (str(episode.pk), 2)])
    Episode.objects.filter(pk=episode.pk).update(status=Episode.Status.FINALISING)

    services.episode_finalise(episode_id=str(episode.pk), give_up=True)

    episode.refresh_from_db()
    assert episode.status == Episode.Status.INCOMPLETE
    assert episode.verification == V.FAILED
    assert episode.verification_detail == (
        "no stored chunk starts at frame 25 (2 of 3 chunks stored); replay verified steps 0 to 25"
    )
    assert episode.verified_steps == 25


def test_it_fails_with_the_reason_when_a_stored_chunk_is_gone(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=60)
    store_all(episode)
    default_storage.delete(str(Chunk.objects.get(episode=episode, index=1).file.name))

    episode = end(episode)

    assert episode.verification == V.FAILED
    assert episode.verification_detail.startswith("chunk 1 cannot be read:")


def test_it_fails_with_the_reason_when_the_env_is_unknown(alice: Any, pong: Any) -> None:
    episode = handed_over(alice, pong, steps=30)
    store_all(episode)
    spec = {**episode.env_spec, "env_id": "ALE/NoSuchGame-v5"}
    Episode.objects.filter(pk=episode.pk).update(env_spec=spec)

    episode = end(episode)

    assert episode.verification == V.FAILED
    assert episode.verification_detail.startswith("cannot build ALE/NoSuchGame-v5")


def test_it_changes_nothing_when_the_task_runs_twice(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=60)
    assert episode.verification == V.VERIFIED

    verify_episodes.delay([str(episode.pk)])
    services.episode_finalise(episode_id=str(episode.pk))

    again = Episode.objects.get(pk=episode.pk)
    assert (again.verification, again.verified_steps, again.verified_at) == (
        V.VERIFIED,
        60,
        episode.verified_at,
    )


def test_it_verifies_tower_of_hanoi(alice: Any, hanoi: Any) -> None:
    episode, _ = record_episode(user=alice, game=hanoi, steps=40, chunk_steps=10)

    assert episode.pixel_format == "rgb"
    assert episode.verification == V.VERIFIED
    assert episode.verified_steps == 40


def test_it_verifies_while_the_episode_is_played(alice: Any, pong: Any, settings: Any) -> None:
    settings.ARCADE = {**settings.ARCADE, "VERIFY_EVERY_CHUNKS": 2}
    episode = handed_over(alice, pong, steps=120)  # 5 chunks of 25 steps
    episode_id = str(episode.pk)

    for index in range(4):
        services.chunks_store(refs=[(episode_id, index)])

    played = Episode.objects.get(pk=episode_id)
    assert (played.verification, played.verified_steps) == (V.PENDING, 100)
    assert transfer.client().exists(verification.checkpoint_key(episode_id, 100))
    assert not transfer.client().exists(verification.checkpoint_key(episode_id, 50))

    services.chunks_store(refs=[(episode_id, 4)])
    episode = end(episode)

    assert (episode.verification, episode.verified_steps) == (V.VERIFIED, 120)
    assert not transfer.client().exists(verification.checkpoint_key(episode_id, 100))


def test_it_replays_the_verified_steps_again_when_the_checkpoint_expired(
    alice: Any, pong: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "VERIFY_EVERY_CHUNKS": 2}
    episode = handed_over(alice, pong, steps=120)
    tamper_frame(episode, 110)
    store_all(episode)
    transfer.client().delete(verification.checkpoint_key(str(episode.pk), 100))

    episode = end(episode)

    assert episode.verification == V.MISMATCH
    assert episode.verification_detail.startswith("frame 110 differs from the replay")


def test_it_finds_a_mismatch_while_the_episode_is_played(
    alice: Any, pong: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "VERIFY_EVERY_CHUNKS": 1}
    episode = handed_over(alice, pong, steps=120)
    tamper_frame(episode, 40)

    services.chunks_store(refs=[(str(episode.pk), 0), (str(episode.pk), 1)])

    played = Episode.objects.get(pk=episode.pk)
    assert played.status == Episode.Status.ACTIVE
    assert played.verification == V.MISMATCH
    assert played.verified_steps == 39


def test_it_does_not_verify_an_episode_being_played_past_a_missing_chunk(
    alice: Any, pong: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "VERIFY_EVERY_CHUNKS": 1}
    episode = handed_over(alice, pong, steps=120)

    services.chunks_store(refs=[(str(episode.pk), 0), (str(episode.pk), 2)])

    played = Episode.objects.get(pk=episode.pk)
    assert (played.verification, played.verified_steps) == (V.PENDING, 25)


def test_it_matches_what_the_replay_engine_gives_a_researcher(alice: Any, pong: Any) -> None:
    from games.engine.replay import replay

    episode, played = record_episode(user=alice, game=pong, steps=50)
    actions = list(episode.transitions.order_by("step").values_list("action", flat=True))
    spec = episode.env_spec

    frames = [f.frame for f in replay(spec["env_id"], spec["env_kwargs"], episode.seed, actions)]

    assert len(frames) == 51
    assert all(np.array_equal(a, b) for a, b in zip(frames, played, strict=True))


def test_it_shows_the_verdict_on_the_players_episodes_page(alice: Any, pong: Any) -> None:
    from django.test import Client
    from django.urls import reverse

    record_episode(user=alice, game=pong, steps=30)
    client = Client()
    client.force_login(alice)

    page = client.get(reverse("recording:my_episodes")).content.decode()

    assert 'class="badge verification-verified"' in page


def test_it_takes_the_other_workers_verdict_when_it_loses_the_race(
    alice: Any, pong: Any, monkeypatch: Any
) -> None:
    episode = handed_over(alice, pong, steps=60)
    store_all(episode)
    Episode.objects.filter(pk=episode.pk).update(status=Episode.Status.COMPLETE)
    read_chunk = verification._read_chunk
    raced: list[Episode] = []

    def another_worker_gets_there_first(chunk: Chunk, previous: Any) -> Any:
        if not raced:  # while this pass replays, another one concludes
            raced.append(episode)
            verification.episode_verify(episode_id=str(episode.pk))
            raced.append(Episode.objects.get(pk=episode.pk))
        return read_chunk(chunk, previous)

    monkeypatch.setattr(verification, "_read_chunk", another_worker_gets_there_first)
    verification.episode_verify(episode_id=str(episode.pk))

    verified = Episode.objects.get(pk=episode.pk)
    assert raced[1].verification == V.VERIFIED
    assert verified.verified_at == raced[1].verified_at  # the first verdict stands
    assert verified.verified_steps == 60


def test_it_verifies_an_episode_without_steps(alice: Any, pong: Any) -> None:
    episode, _ = record_episode(user=alice, game=pong, steps=0)

    assert episode.verification == V.VERIFIED
    assert episode.verification_detail == "0 steps and 1 frame replayed identically"


def test_it_verifies_a_sticky_actions_game_while_it_is_played(
    alice: Any, make_game: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "VERIFY_EVERY_CHUNKS": 1}
    sticky = make_game(
        "breakout",
        env_kwargs={"frameskip": 1, "repeat_action_probability": 0.25, "full_action_space": False},
    )
    episode = handed_over(alice, sticky, steps=100)
    store_all(episode)
    # The machine draws the sticky actions, and its snapshot holds them: checkpoints work.
    assert Episode.objects.get(pk=episode.pk).verified_steps > 0

    episode = end(episode)

    assert (episode.verification, episode.verified_steps) == (V.VERIFIED, 100)


def test_it_fails_a_sticky_episode_recorded_while_ale_drew_the_repeats(
    alice: Any, make_game: Any
) -> None:
    sticky = make_game(
        "breakout",
        env_kwargs={"frameskip": 1, "repeat_action_probability": 0.25, "full_action_space": False},
    )
    episode = handed_over(alice, sticky, steps=20)
    versions = {k: v for k, v in episode.versions.items() if k != "sticky_actions"}
    Episode.objects.filter(pk=episode.pk).update(versions=versions)  # as recorded back then
    store_all(episode)

    episode = end(episode)

    assert episode.verification == V.FAILED
    assert "ALE drew the sticky actions" in episode.verification_detail


@pytest.mark.parametrize("width", [160, 157])  # whole 8-byte words per frame, or not
def test_it_sees_a_colour_shown_by_one_pixel_of_one_later_frame(width: int) -> None:
    frames = np.zeros((60, 210, width), np.uint8)
    frames[:, 0, 0] = 14
    frames[41, 209, width - 1] = 77

    shown = verification._shown(frames)

    assert np.flatnonzero(shown).tolist() == [0, 14, 77]
