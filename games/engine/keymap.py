"""Held keys to actions.

A key map is JSON the admin can edit::

    {"keys": {"ArrowUp": "UP", "KeyW": "UP", "Space": "FIRE", ...},
     "combos": {"": 0, "FIRE": 1, "UP": 2, "FIRE+RIGHT+UP": 14, ...}}

``keys`` names what each ``KeyboardEvent.code`` means; ``combos`` maps each set of meanings
(sorted, joined by ``+``) to an action. Held keys whose combination has no action fall back to
the largest combination that is held (Pong has no UP, so UP+FIRE plays FIRE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ATARI_KEYS: dict[str, str] = {
    "ArrowUp": "UP",
    "KeyW": "UP",
    "ArrowDown": "DOWN",
    "KeyS": "DOWN",
    "ArrowLeft": "LEFT",
    "KeyA": "LEFT",
    "ArrowRight": "RIGHT",
    "KeyD": "RIGHT",
    "Space": "FIRE",
}
_OPPOSITES = (("UP", "DOWN"), ("LEFT", "RIGHT"))
_ATARI_PARTS = re.compile(r"UP|DOWN|LEFT|RIGHT|FIRE")


def combo_name(parts: Iterable[str]) -> str:
    return "+".join(sorted(parts))


def split_atari_meaning(meaning: str) -> frozenset[str] | None:
    """UPRIGHTFIRE -> {UP, RIGHT, FIRE}; NOOP -> {}; None when it is not joystick vocabulary."""
    if meaning == "NOOP":
        return frozenset()
    parts = _ATARI_PARTS.findall(meaning)
    if "".join(parts) != meaning:
        return None
    return frozenset(parts)


def atari_key_map(meanings: Sequence[str]) -> dict[str, Any]:
    """The key map for an ALE game, from its action meanings (minimal or full set)."""
    combos: dict[str, int] = {}
    for action, meaning in enumerate(meanings):
        parts = split_atari_meaning(meaning)
        if parts is not None:
            combos.setdefault(combo_name(parts), action)
    used = {part for name in combos for part in name.split("+") if part}
    keys = {code: sym for code, sym in ATARI_KEYS.items() if sym in used}
    return {"keys": keys, "combos": combos}


def digit_key_map(n_actions: int) -> dict[str, Any]:
    """A fallback for a discrete env with no named actions: keys 1-9 choose actions 1-9."""
    count = min(n_actions, 10)
    keys = {f"Digit{i}": f"A{i}" for i in range(1, count)}
    combos: dict[str, int] = {"": 0}
    combos.update({f"A{i}": i for i in range(1, count)})
    return {"keys": keys, "combos": combos}


class KeyMapError(ValueError):
    pass


class KeyMap:
    """Resolves a set of held key codes to an action; cached, since players repeat themselves."""

    def __init__(self, spec: Mapping[str, Any], *, default_action: int, n_actions: int) -> None:
        keys = spec.get("keys")
        combos = spec.get("combos")
        if not isinstance(keys, dict) or not isinstance(combos, dict):
            raise KeyMapError('A key map needs "keys" and "combos" objects.')
        for code, sym in keys.items():
            if not isinstance(code, str) or not isinstance(sym, str) or not sym:
                raise KeyMapError(f"Key {code!r} must map to a non-empty name.")
        self.combos: dict[frozenset[str], int] = {}
        for name, action in combos.items():
            if (
                isinstance(action, bool)
                or not isinstance(action, int)
                or not 0 <= action < n_actions
            ):
                raise KeyMapError(
                    f"Combination {name!r} maps to {action!r}, not an action from 0 to "
                    f"{n_actions - 1}."
                )
            self.combos[frozenset(p for p in name.split("+") if p)] = action
        if not 0 <= default_action < n_actions:
            raise KeyMapError(f"The default action must be from 0 to {n_actions - 1}.")
        self.keys: dict[str, str] = dict(keys)
        self.default_action = default_action
        self._cache: dict[frozenset[str], int] = {}

    @property
    def codes(self) -> list[str]:
        return sorted(self.keys)

    def action_for(self, held: Iterable[str]) -> int:
        symbols = frozenset(self.keys[code] for code in held if code in self.keys)
        action = self._cache.get(symbols)
        if action is None:
            action = self._resolve(symbols)
            self._cache[symbols] = action
        return action

    def _resolve(self, symbols: frozenset[str]) -> int:
        for a, b in _OPPOSITES:
            if a in symbols and b in symbols:  # both held: neither wins
                symbols = symbols - {a, b}
        if not symbols:
            return self.default_action
        exact = self.combos.get(symbols)
        if exact is not None:
            return exact
        best = [(len(c), -a, a) for c, a in self.combos.items() if c and c <= symbols]
        return max(best)[2] if best else self.default_action
