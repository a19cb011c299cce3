import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User

DEMO_EMAIL = "admin@arcade.local"
DEMO_PASSWORD = "arcade-demo"


class Command(BaseCommand):
    """Create the demo admin of the embedded default and print its credentials."""

    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.EMBEDDED and settings.DEBUG):
            raise CommandError(
                "The demo admin exists only on the embedded default (no DATABASE_URL)."
            )
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            User.objects.create_superuser(DEMO_EMAIL, DEMO_PASSWORD)
        elif not user.check_password(DEMO_PASSWORD):
            self.stdout.write(f"Demo admin {DEMO_EMAIL} exists with a changed password.")
            return
        # The port `make run` serves on (the Procfile's web role reads the same variable).
        port = os.environ.get("ARCADE_PORT") or "8000"
        self.stdout.write(
            f"Demo admin: {DEMO_EMAIL} / {DEMO_PASSWORD}  (http://127.0.0.1:{port}/admin/)"
        )
