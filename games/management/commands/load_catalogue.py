from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from games.services import catalogue_load


class Command(BaseCommand):
    """Install the default catalogue (nine Atari games and Tower of Hanoi); keeps existing games."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would be created.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        created = catalogue_load(dry_run=dry_run)
        verb = "Would create" if dry_run else "Created"
        if options["verbosity"] >= 1:
            if created:
                self.stdout.write(f"{verb} {len(created)} game(s): {', '.join(created)}")
            else:
                self.stdout.write("The catalogue is already installed.")
