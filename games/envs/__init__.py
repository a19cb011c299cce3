"""Arcade's own Gymnasium environments (registered by ``games.engine.registry.register_all``)."""
