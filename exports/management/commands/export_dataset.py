"""Export recorded episodes as a dataset (Minari or Parquet) to a folder or a storage prefix.

Only episodes not yet exported to that destination are written, so running it again adds
what was played since. Staff and test accounts are left out unless asked for. Examples::

    manage.py export_dataset --destination /data/arcade --game pong --verified-only
    manage.py export_dataset --destination storage:exports/atari --format parquet \\
        --observation atari --since 2026-01-01 --min-steps 600 --dry-run
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from exports.formats import FORMATS
from exports.observations import OBSERVATIONS
from exports.services import EpisodeQuery, ExportError, Progress, dataset_export
from recording.models import Episode


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date: use YYYY-MM-DD") from None


class Command(BaseCommand):
    """Export recorded episodes as a Minari or Parquet dataset; only new ones each run."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--destination",
            required=True,
            help="a folder, or storage:<prefix> in the default storage (Cloud Storage)",
        )
        parser.add_argument("--format", choices=sorted(FORMATS), default="minari")
        parser.add_argument("--observation", choices=OBSERVATIONS, default="rgb")
        parser.add_argument(
            "--game", action="append", default=[], help="game slug; repeat for several"
        )
        parser.add_argument("--since", type=_day, help="started on or after (YYYY-MM-DD, UTC)")
        parser.add_argument("--until", type=_day, help="started on or before (YYYY-MM-DD, UTC)")
        parser.add_argument(
            "--status",
            action="append",
            choices=Episode.Status.values,
            help="episode status; repeat for several (default: complete)",
        )
        parser.add_argument("--min-steps", type=int, default=0)
        parser.add_argument("--min-return", type=float)
        parser.add_argument(
            "--verified-only", action="store_true", help="only episodes whose replay matched"
        )
        parser.add_argument("--include-staff", action="store_true")
        parser.add_argument("--include-test-accounts", action="store_true")
        parser.add_argument("--dry-run", action="store_true", help="count, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        query = EpisodeQuery(
            games=tuple(options["game"]),
            since=options["since"],
            until=options["until"],
            statuses=tuple(options["status"] or [Episode.Status.COMPLETE]),
            min_steps=options["min_steps"],
            min_return=options["min_return"],
            verified_only=options["verified_only"],
            include_staff=options["include_staff"],
            include_test_accounts=options["include_test_accounts"],
        )
        bars: list[tqdm[Any]] = []

        def progress(episodes: int, steps: int) -> Progress:
            bar: tqdm[Any] = tqdm(
                total=steps,
                unit="step",
                unit_scale=True,
                desc=f"{episodes} episodes",
                disable=options["verbosity"] < 1,
                file=self.stderr._out,  # the stream itself: the wrapper adds newlines
            )
            bars.append(bar)
            return bar.update

        try:
            summary = dataset_export(
                query=query,
                destination=options["destination"],
                format=options["format"],
                observation=options["observation"],
                dry_run=options["dry_run"],
                progress=progress,
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        finally:
            for bar in bars:
                bar.close()
        if options["verbosity"] >= 1:
            for line in summary.lines():
                self.stdout.write(line)
