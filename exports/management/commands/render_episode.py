"""Write a video of a recorded episode: MP4 (H.264) or GIF, chosen by the file's extension.

manage.py render_episode 3f2c9a1e-... pong.mp4
manage.py render_episode 3f2c9a1e pong.gif --scale 1 --fps 30
manage.py render_episode 3f2c9a1e asteroids.mp4 --flicker-filter

It shows its progress (frames read) on stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from exports.video import FORMATS, episode_render
from recording.models import Episode


class Command(BaseCommand):
    """Render a recorded episode to an MP4 or GIF file."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("episode", help="the episode's id (or its first characters)")
        parser.add_argument("path", type=Path, help="the file to write: .mp4 or .gif")
        parser.add_argument("--fps", type=int, help="frames a second (default: the game's)")
        parser.add_argument("--scale", type=int, default=2, help="pixel scale factor (2)")
        parser.add_argument(
            "--flicker-filter",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="show each frame as the pixel-wise maximum of it and the frame before, so "
            "objects drawn on alternate frames show (CrowdPlay's display filter); default: "
            "on for GIFs, off for MP4s. Stored data is never changed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if path.suffix.lower().lstrip(".") not in FORMATS:
            raise CommandError(f"{path.name}: the file must end in .mp4 or .gif")
        episode = _find(options["episode"])
        with tqdm(
            total=episode.frames,
            unit="frame",
            desc=path.name,
            disable=options["verbosity"] < 1,
            file=self.stderr._out,  # the stream itself: the wrapper adds newlines
        ) as bar:
            frames = episode_render(
                episode=episode,
                path=path,
                fps=options["fps"],
                scale=max(options["scale"], 1),
                flicker=options["flicker_filter"],
                progress=bar.update,
            )
        if options["verbosity"] >= 1:
            self.stdout.write(f"Wrote {frames} frames of {episode} to {path}")


def _find(prefix: str) -> Episode:
    try:
        return Episode.objects.get(pk=prefix)
    except (Episode.DoesNotExist, ValidationError, ValueError):
        pass
    matches = list(Episode.objects.filter(uuid__startswith=prefix)[:2]) if prefix else []
    if len(matches) != 1:
        raise CommandError(
            f"no episode {prefix!r}" if not matches else f"{prefix!r} names several episodes"
        )
    return matches[0]
