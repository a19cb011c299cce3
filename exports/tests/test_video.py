"""render_episode writes a video that players open: MP4 (H.264) or GIF."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from exports.video import episode_render, flicker_filter
from recording.frames import iter_frames

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_renders_an_mp4_at_the_games_rate(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=40)
    out = StringIO()
    call_command("render_episode", str(episode.pk), str(tmp_path / "pong.mp4"), stdout=out)
    assert "Wrote 41 frames" in out.getvalue()
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "pong.mp4"))
    meta = next(reader)
    frames = list(reader)
    assert meta["size"] == (320, 420) and meta["fps"] == 60
    assert len(frames) == 41


def test_it_renders_a_gif_by_the_episodes_short_id(
    tmp_path: Path, alice: Any, hanoi: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=hanoi, steps=6)
    path = tmp_path / "hanoi.gif"
    call_command("render_episode", str(episode.pk)[:8], str(path), "--scale=1", stdout=StringIO())
    fps = episode.env_spec["fps"]
    with Image.open(path) as gif:
        durations = []  # Pillow merges repeated frames into one longer frame
        for number in range(getattr(gif, "n_frames", 1)):
            gif.seek(number)
            durations.append(gif.info["duration"])
        last = np.asarray(gif.convert("RGB"))
    assert sum(durations) == 7 * round(1000 / fps)
    assert np.array_equal(last, episode.played[-1])


def test_it_says_what_it_can_write(tmp_path: Path, alice: Any, pong: Any) -> None:
    with pytest.raises(CommandError, match=r"\.mp4 or \.gif"):
        call_command("render_episode", "abc", str(tmp_path / "x.avi"))
    with pytest.raises(CommandError, match="no episode"):
        call_command("render_episode", "abc", str(tmp_path / "x.gif"))


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        frames = []
        for number in range(getattr(gif, "n_frames", 1)):
            gif.seek(number)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames


def lit(frame: np.ndarray) -> int:
    return int(np.count_nonzero(frame.reshape(-1, 3).any(axis=1)))


@pytest.fixture
def asteroids(db: Any) -> Any:
    """Asteroids draws its asteroids on every other frame only."""
    from games.catalogue import DEFAULT_GAMES
    from games.models import Game
    from games.services import game_prepare

    pong = next(entry for entry in DEFAULT_GAMES if entry["slug"] == "pong")
    game = Game(**{**pong, "slug": "asteroids", "title": "Asteroids"})
    game.env_id = "ALE/Asteroids-v5"
    game_prepare(game)
    game.save()
    return game


def test_a_gif_shows_what_is_drawn_on_alternate_frames(
    tmp_path: Path, alice: Any, asteroids: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=asteroids, steps=40)
    stored = [lit(palette_frame) for palette_frame in iter_frames(episode)]
    assert min(stored[1::2]) > 5 * max(stored[2::2])  # the odd frames show the asteroids
    err = StringIO()

    call_command(
        "render_episode", str(episode.pk), str(tmp_path / "on.gif"), "--scale=1", stderr=err
    )
    call_command(
        "render_episode",
        str(episode.pk),
        str(tmp_path / "off.gif"),
        "--scale=1",
        "--no-flicker-filter",
        stdout=StringIO(),
        stderr=StringIO(),
    )

    filtered = [lit(frame) for frame in gif_frames(tmp_path / "on.gif")]
    unfiltered = [lit(frame) for frame in gif_frames(tmp_path / "off.gif")]
    assert min(filtered[1:]) >= min(stored[1::2])  # every frame shows the asteroids
    assert max(unfiltered[1:]) < min(stored[1::2])  # every other frame: never the asteroids
    assert "100%" in err.getvalue() and "41/41" in err.getvalue()  # tqdm's progress


def test_the_flicker_filter_is_the_maximum_of_each_frame_and_the_one_before() -> None:
    frames = [np.array([[0, 9], [3, 0]], np.uint8), np.array([[5, 0], [3, 1]], np.uint8)]

    filtered = list(flicker_filter(frames))

    assert np.array_equal(filtered[0], frames[0])
    assert np.array_equal(filtered[1], [[5, 9], [3, 1]])


def test_an_mp4_is_unfiltered_unless_asked(
    tmp_path: Path, alice: Any, asteroids: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=asteroids, steps=10)
    plain, filtered = tmp_path / "plain.mp4", tmp_path / "filtered.mp4"

    assert episode_render(episode=episode, path=plain, scale=1) == 11
    assert episode_render(episode=episode, path=filtered, scale=1, flicker=True) == 11

    assert plain.read_bytes() != filtered.read_bytes()
