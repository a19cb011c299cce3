from django.apps import AppConfig


class GamesConfig(AppConfig):
    name = "games"

    def ready(self) -> None:
        # Our own envs (Tower of Hanoi) and ale-py's must be registered before any gym.make.
        from .engine import registry

        registry.register_all()
