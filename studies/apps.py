from typing import Any

from django.apps import AppConfig


def _link_block_episode(sender: type, instance: Any, created: bool, **_: object) -> None:
    """A new episode with a study's context is linked to its block's participants."""
    if created and instance.context:
        from . import services

        services.link_block_episode(instance)


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "Studies"

    def ready(self) -> None:
        # A study's game block is a live match like any other: play asks the providers what
        # an episode is for and where a participant waits for a seat (their block's own
        # waiting room), and a new episode with a study's context is linked to its block.
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_save

        from exports import scopes
        from play import contexts
        from recording.models import Episode

        from . import dashboard, scope, services

        contexts.provide(services.episode_context)
        contexts.provide_waiting_room(services.waiting_room)
        # Exports ask which of a study's episodes they may write and how to show its context
        # (participants as pseudonyms); a withdrawn participant's episodes leave every export.
        scopes.provide(scope.SCOPE)
        post_save.connect(_link_block_episode, sender=Episode, dispatch_uid="studies.block_episode")
        # The dashboard's median time per step: PostgreSQL has one, SQLite (`make run`) not.
        connection_created.connect(
            dashboard.register_sqlite_median, dispatch_uid="studies.sqlite_median"
        )
