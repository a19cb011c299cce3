"""Export recorded episodes as a dataset (Minari or Parquet) to a folder or a storage prefix.

Only episodes not yet exported to that destination are written, so running it again adds
what was played since. Staff and test accounts are left out unless asked for, and a study's
withdrawn participants' episodes always (``exports.scopes``). ``--played-by`` keeps the
episodes every seat of which was held by the kinds of player named (vacant seats aside):
``humans`` is pure human play, ``humans,agents`` adds people against programs; ``--agent``
keeps those with a seat held by that program (``exports.players``). The summary
lists every folder written; when an episode could not be read it says which and why, and the
command exits with status 2 (the others are exported). Examples::

    manage.py export_dataset --destination /data/arcade --game pong --verified-only
    manage.py export_dataset --destination storage:exports/atari --format parquet \\
        --observation atari --since 2026-01-01 --min-steps 600 --dry-run
    manage.py export_dataset --destination /data/reaction --study reaction --condition fast
    manage.py export_dataset --destination /data/human --played-by humans
    manage.py export_dataset --destination /data/dqn --played-by agents --agent dqn@2.1
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from exports.formats import FORMATS
from exports.observations import OBSERVATIONS
from exports.players import NotAFilter, PlayedBy
from exports.scopes import Within
from exports.services import EpisodeQuery, ExportError, Progress, dataset_export
from recording.models import Episode

SKIPPED_STATUS = 2  # the exit status of a run that had to leave episodes out


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
        parser.add_argument(
            "--format",
            choices=sorted(FORMATS),
            default="minari",
            help="minari: Minari, Parquet storage (default); minari-arrow: Minari, Arrow IPC "
            "storage (uncompressed); parquet: plain Parquet tables (docs/datasets.md)",
        )
        parser.add_argument(
            "--observation",
            choices=OBSERVATIONS,
            default="rgb",
            help="rgb (default), grayscale, indices (ALE palette indices), ram (by replay), "
            "atari (AtariPreprocessing + 4-frame stack); all but rgb and grayscale are "
            "Atari-only",
        )
        parser.add_argument(
            "--game", action="append", default=[], help="game slug; repeat for several"
        )
        parser.add_argument("--since", type=_day, help="started on or after (YYYY-MM-DD, UTC)")
        parser.add_argument("--until", type=_day, help="started on or before (YYYY-MM-DD, UTC)")
        parser.add_argument(
            "--status",
            action="append",
            choices=Episode.Status.values,
            help="episode status; repeat for several (default: complete). incomplete includes "
            "interrupted episodes, exported up to their last stored step",
        )
        parser.add_argument(
            "--min-steps", type=int, default=0, help="only episodes of at least this many steps"
        )
        parser.add_argument(
            "--min-return", type=float, help="only episodes whose return is at least this"
        )
        parser.add_argument(
            "--verified-only", action="store_true", help="only episodes whose replay matched"
        )
        parser.add_argument(
            "--include-staff", action="store_true", help="include episodes of staff accounts"
        )
        parser.add_argument(
            "--include-test-accounts",
            action="store_true",
            help="include episodes of accounts marked as test accounts",
        )
        parser.add_argument(
            "--study",
            help="only this study's game-block episodes (its slug), of participants still in "
            "its exports (not withdrawn)",
        )
        parser.add_argument(
            "--condition", help="with --study: only the participants of this condition"
        )
        parser.add_argument(
            "--played-by",
            action="append",
            default=[],
            metavar="{humans,agents,policies}",
            help="only episodes every seat of which was held by these kinds of player for the "
            "whole episode (vacant seats aside): humans is pure human play, humans,agents adds "
            "people against programs, and a person replaced by an AI policy counts as both "
            "humans and policies; comma-separated or repeated (default: everyone)",
        )
        parser.add_argument(
            "--agent",
            action="append",
            default=[],
            metavar="NAME[@VERSION]",
            help="only episodes with a seat held by the program of this name (agent_name), of "
            "any version, or with @VERSION of that version (split at the last @); repeat for "
            "several",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["condition"] and not options["study"]:
            raise CommandError("--condition needs --study: say whose condition it is")
        within = None
        if options["study"]:
            within = Within(scope="study", value=options["study"], part=options["condition"])
        try:
            played_by = PlayedBy.parse(kinds=options["played_by"], agents=options["agent"])
        except NotAFilter as exc:
            raise CommandError(str(exc)) from None
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
            within=within,
            played_by=played_by,
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
        if summary.skipped:
            raise CommandError(
                f"{len(summary.skipped)} of {summary.matched} episodes were skipped (their "
                "chunks could not be read; reasons above); the others were exported",
                returncode=SKIPPED_STATUS,
            )
