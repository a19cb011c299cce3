"""Write the bonus file of a study's completed participants for Prolific or MTurk.

It holds raw recruitment ids (a bonus is paid to one), so it is written readable by its owner
only. Prolific: ``<PROLIFIC_PID>,<amount>`` lines for its "Bulk bonus payment" box; MTurk: a
CSV of WorkerId, AssignmentId, BonusAmount, Reason, UniqueRequestToken (SendBonus's fields).
Participants who came another way, or without an assignment id, are listed as left out.
Examples::

    manage.py study_bonuses reflexes --platform prolific --output bonuses.csv
    manage.py study_bonuses reflexes --platform mturk --output bonuses.csv --reason "Thanks!"
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.bonuses import PLATFORMS, bonus_sheet
from studies.models import Study


class Command(BaseCommand):
    """Write a study's bonus file for Prolific's or MTurk's bulk bonus payment."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("--platform", required=True, choices=sorted(PLATFORMS))
        parser.add_argument("--output", required=True, help="the file to write")
        parser.add_argument(
            "--reason", default="", help="MTurk: the message the worker sees with the bonus"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"there is no study {options['study']!r}: give a study's slug")
        sheet = bonus_sheet(study, options["platform"], reason=options["reason"])
        path = Path(options["output"]).expanduser()
        # Owner-only before a byte is written (an existing file too): it names people by
        # their recruitment ids.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(sheet.text)
        if options["verbosity"] >= 1:
            for line in sheet.lines():
                self.stdout.write(line)
            self.stdout.write(f"wrote {path}")
