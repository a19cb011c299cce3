from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Exports ask which episodes are a program's (export_dataset --agent) and how its
        # context shows in datasets (its name and version, not its token).
        from exports import scopes

        from . import scope

        scopes.provide(scope.SCOPE)
