from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "Studies"

    def ready(self) -> None:
        # A study's game block is a live match like any other: play asks the providers what
        # an episode is for, and a new episode with a study's context is linked to its block.
        from django.db.models.signals import post_save

        from exports import scopes
        from play import contexts
        from recording.models import Episode

        from . import scope, services

        contexts.provide(services.episode_context)
        # Exports ask which of a study's episodes they may write and how to show its context
        # (participants as pseudonyms); a withdrawn participant's episodes leave every export.
        scopes.provide(scope.SCOPE)

        def linked(sender: type, instance: Episode, created: bool, **_: object) -> None:
            if created and instance.context:
                services.link_block_episode(instance)

        post_save.connect(linked, sender=Episode, dispatch_uid="studies.block_episode")
