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
