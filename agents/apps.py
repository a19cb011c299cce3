from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Exports ask which episodes are a program's (export_dataset --agent) and how its
        # context shows in datasets (its name and version, not its token).
        from exports import scopes
        from play import lobby

        from . import scope, seated

        scopes.provide(scope.SCOPE)
        # A program's seat in a room of this process, asked for from the process its session
        # is on (``agents/seated.py``).
        lobby.host_programs(seated.serve)
