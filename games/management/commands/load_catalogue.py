from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from games.services import catalogue_load, catalogue_policies, catalogue_update_keys


class Command(BaseCommand):
    """Install the default catalogue (nine Atari games, Tower of Hanoi and five multi-seat
    games with their AI players); keeps existing games.

    Installed default games whose keys nobody chose get the catalogue's key maps, and those
    missing a built-in AI player the catalogue lists for them get it.
    """

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would be created.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        created = catalogue_load(dry_run=dry_run)
        updated = catalogue_update_keys(dry_run=dry_run)
        policies = catalogue_policies(dry_run=dry_run)
        verb = "Would create" if dry_run else "Created"
        if options["verbosity"] >= 1:
            if created:
                self.stdout.write(f"{verb} {len(created)} game(s): {', '.join(created)}")
            if updated:
                verb = "Would give" if dry_run else "Gave"
                self.stdout.write(
                    f"{verb} {len(updated)} game(s) the catalogue's keys: {', '.join(updated)}"
                )
            if policies:
                verb = "Would add" if dry_run else "Added"
                self.stdout.write(f"{verb} {len(policies)} AI player(s): {', '.join(policies)}")
            if not created and not updated and not policies:
                self.stdout.write("The catalogue is already installed.")
