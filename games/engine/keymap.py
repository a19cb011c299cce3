"""Held keys to actions.

A key map is JSON the admin can edit::

    {"keys": {"ArrowUp": "UP", "KeyW": "UP", "Space": "FIRE", ...},
     "combos": {"": 0, "FIRE": 1, "UP": 2, "FIRE+RIGHT+UP": 14, ...}}

``keys`` names what each ``KeyboardEvent.code`` means; ``combos`` maps each set of meanings
(sorted, joined by ``+``) to an action. Held keys whose combination has no action fall back to
the largest combination that is held (Pong has no UP, so UP+FIRE plays FIRE).

Two optional entries are for people, not for the engine: ``labels`` says what each meaning
does in this game (``{"UP": "paddle up"}``: Pong's paddle goes up on Atari's RIGHT), and
``touch`` lists the meanings that get an on-screen button on touch screens. The controls text
of every page is generated from the map (``describe``), so it cannot disagree with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


# How a KeyboardEvent.code is written for people: the key's legend.
KEY_NAMES: dict[str, str] = {
    "ArrowUp": "↑",
    "ArrowDown": "↓",
    "ArrowLeft": "←",
    "ArrowRight": "→",
    "Space": "Space",
    "Enter": "Enter",
    "ShiftLeft": "Left Shift",
    "ShiftRight": "Right Shift",
    "ControlLeft": "Left Ctrl",
    "ControlRight": "Right Ctrl",
}


_MEANING_ORDER = ("UP", "DOWN", "LEFT", "RIGHT", "FIRE")
_ARROWS = {"UP": "▲", "DOWN": "▼", "LEFT": "◀", "RIGHT": "▶"}
_CODE_ORDER = tuple(KEY_NAMES)  # arrows before letters: ↑ or W


def key_name(code: str) -> str:
    """KeyW -> W, Digit1 -> 1, Numpad4 -> Numpad 4, ArrowUp -> ↑."""
    if code in KEY_NAMES:
        return KEY_NAMES[code]
    for prefix in ("Key", "Digit"):
        if code.startswith(prefix) and len(code) > len(prefix):
            return code[len(prefix) :]
    if code.startswith("Numpad") and len(code) > len("Numpad"):
        return f"Numpad {code[len('Numpad') :]}"
    return code


def meaning_words(meaning: str) -> str:
    """UPRIGHTFIRE -> "up + right + fire"; PICK_DROP -> "pick drop"; 3 -> "action 3"."""
    if meaning.isdigit():  # an env without action names (digit_key_map)
        return f"action {meaning}"
    parts = _ATARI_PARTS.findall(meaning)
    if parts and "".join(parts) == meaning:
        return " + ".join(part.lower() for part in parts)
    return meaning.replace("_", " ").lower()


@dataclass(frozen=True)
class Control:
    """One line of a game's controls: the keys that mean ``symbol``, and what it does."""

    symbol: str
    codes: tuple[str, ...]
    does: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key_name(code) for code in self.codes)

    @property
    def glyph(self) -> str:
        """What an on-screen button shows: an arrow for a direction, else what it does."""
        return _ARROWS.get(self.symbol, self.does)


def describe(spec: Mapping[str, Any], action_meanings: Sequence[str]) -> list[Control]:
    """What each key does, from the key map itself, in the map's order of meanings.

    A meaning without a label is described by the action it plays alone (Atari's names, as
    a derived key map has them), so an admin's game with an empty key map still lists its
    keys.
    """
    keys = spec.get("keys") or {}
    combos = spec.get("combos") or {}
    labels = spec.get("labels") or {}
    codes: dict[str, list[str]] = {}
    for code, symbol in keys.items():
        codes.setdefault(symbol, []).append(code)
    # In a fixed order: PostgreSQL's jsonb keeps no key order.
    touch = [t for t in spec.get("touch") or [] if isinstance(t, str)]
    order = [*touch, *(m for m in _MEANING_ORDER if m not in touch)]

    def symbol_rank(symbol: str) -> tuple[int, str]:
        return (order.index(symbol) if symbol in order else len(order), symbol)

    def code_rank(code: str) -> tuple[int, str]:
        return (_CODE_ORDER.index(code) if code in _CODE_ORDER else len(_CODE_ORDER), code)

    controls = []
    for symbol in sorted(codes, key=symbol_rank):
        symbol_codes = sorted(codes[symbol], key=code_rank)
        does = labels.get(symbol)
        if not does:
            action = combos.get(symbol)
            if isinstance(action, int) and 0 <= action < len(action_meanings):
                does = meaning_words(action_meanings[action])
            else:
                does = meaning_words(symbol)
        controls.append(Control(symbol=symbol, codes=tuple(symbol_codes), does=does))
    return controls


def keyboard_only(controls: Sequence[Control]) -> list[Control]:
    """The controls a keyboard has keys for: not a board game's moves that are only clicked
    (their codes, "Move<action>", are no key's; docs/boards.md)."""
    return [c for c in controls if not all(code.startswith("Move") for code in c.codes)]


def combines(spec: Mapping[str, Any]) -> bool:
    """Whether some action needs two meanings held at once (UP+FIRE, say)."""
    return any("+" in name for name in (spec.get("combos") or {}))


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
        labels = spec.get("labels", {})
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise KeyMapError('"labels" must map meanings to what they do, as text.')
        touch = spec.get("touch", [])
        meanings = set(keys.values())
        if not isinstance(touch, list) or not all(t in meanings for t in touch):
            raise KeyMapError('"touch" must list meanings of "keys", one on-screen button each.')
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
