import os
from typing import Any

from celery import Celery, Task
from celery.signals import task_failure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcade.settings")

app = Celery("arcade")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_failure.connect
def _count_failure(sender: Task | None = None, **_: Any) -> None:
    """A task failed for good (retries spent, or an error it does not retry): count it."""
    from recording.counters import count

    count("task_failures", label=sender.name if sender is not None else "unknown")
