"""Write a study's own data (answers, consent, step timings, connection, problem reports) as
Parquet and CSV files with a README.md card, participants under their pseudonym.

Declined and withdrawn participants are left out, and no recruitment id is written (the bonus
file, which needs them, is ``study_bonuses``). Example::

    manage.py export_study reflexes --destination /data/reflexes-study
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.datafiles import study_files
from studies.models import Study


class Command(BaseCommand):
    """Export a study's answers, consent, timings, connection and problem reports."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="the study's slug (its link is /s/<slug>/)")
        parser.add_argument(
            "--destination", required=True, help="a folder (made if missing; files replaced)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"there is no study {options['study']!r}: give a study's slug")
        written = study_files(study, Path(options["destination"]).expanduser())
        if options["verbosity"] >= 1:
            for line in written.lines():
                self.stdout.write(line)
