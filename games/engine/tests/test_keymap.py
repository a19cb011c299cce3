"""Held keys to actions, specified on the real action sets of ALE games."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from games.engine.keymap import (
    ATARI_KEYS,
    KeyMap,
    KeyMapError,
    atari_key_map,
    describe,
    digit_key_map,
    key_name,
    split_atari_meaning,
)
from games.engine.machines import AtariMachine

MINIMAL = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}
FULL = {**MINIMAL, "full_action_space": True}

ARROWS = {"UP": "ArrowUp", "DOWN": "ArrowDown", "LEFT": "ArrowLeft", "RIGHT": "ArrowRight"}
WASD = {"UP": "KeyW", "DOWN": "KeyS", "LEFT": "KeyA", "RIGHT": "KeyD"}

# (game, full action space?) pairs; ids read "Pong", "Seaquest", "Pong-full", ...
ACTION_SETS = [
    ("Pong", False),
    ("Breakout", False),
    ("MsPacman", False),
    ("Seaquest", False),
    ("SpaceInvaders", False),
    ("Pong", True),
]
SET_IDS = [f"{game}-full" if full else game for game, full in ACTION_SETS]


@functools.cache
def meanings(game: str, full: bool = False) -> tuple[str, ...]:
    machine = AtariMachine(f"ALE/{game}-v5", FULL if full else MINIMAL)
    try:
        return tuple(machine.action_meanings)
    finally:
        machine.close()


def keymap(game: str, full: bool = False, default_action: int = 0) -> KeyMap:
    names = meanings(game, full)
    return KeyMap(atari_key_map(names), default_action=default_action, n_actions=len(names))


def press(meaning: str, keys: dict[str, str] = ARROWS) -> list[str]:
    """The key codes a player holds for a joystick meaning such as UPRIGHTFIRE."""
    parts = split_atari_meaning(meaning)
    assert parts is not None
    return [keys[p] if p != "FIRE" else "Space" for p in sorted(parts)]


# --- derived Atari maps ----------------------------------------------------------------------


def test_it_reads_real_action_sets() -> None:
    # The cases below lean on these sets; if ale-py changes them, this says so first.
    assert meanings("Pong") == ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
    assert meanings("Breakout") == ("NOOP", "FIRE", "RIGHT", "LEFT")
    assert len(meanings("Pong", full=True)) == 18


@pytest.mark.parametrize(("game", "full"), ACTION_SETS, ids=SET_IDS)
def test_it_reaches_every_action_by_holding_its_keys(game: str, full: bool) -> None:
    names = meanings(game, full)
    keys = keymap(game, full)

    for action, meaning in enumerate(names):
        assert keys.action_for(press(meaning)) == action, meaning


@pytest.mark.parametrize(
    ("game", "full"),
    [("Pong", False), ("SpaceInvaders", False), ("Seaquest", False), ("Breakout", True)],
    ids=["Pong", "SpaceInvaders", "Seaquest", "Breakout-full"],
)
def test_it_plays_rightfire_for_space_and_arrow_right(game: str, full: bool) -> None:
    rightfire = meanings(game, full).index("RIGHTFIRE")

    assert keymap(game, full).action_for(["Space", "ArrowRight"]) == rightfire
    assert keymap(game, full).action_for(["ArrowRight", "Space"]) == rightfire


@pytest.mark.parametrize(("game", "full"), ACTION_SETS, ids=SET_IDS)
def test_it_treats_wasd_like_the_arrows(game: str, full: bool) -> None:
    keys = keymap(game, full)

    for meaning in meanings(game, full):
        assert keys.action_for(press(meaning, WASD)) == keys.action_for(press(meaning)), meaning


def test_it_lists_only_the_keys_a_game_uses() -> None:
    assert keymap("Pong").codes == sorted(
        ["ArrowLeft", "KeyA", "ArrowRight", "KeyD", "Space"]
    )  # Pong has no UP or DOWN
    assert "Space" not in keymap("MsPacman").codes  # MsPacman has no FIRE
    assert keymap("Seaquest", full=True).codes == sorted(ATARI_KEYS)


@pytest.mark.parametrize(
    ("held", "meaning"),
    [
        (["ArrowLeft", "ArrowRight"], "NOOP"),
        (["ArrowUp", "ArrowDown"], "NOOP"),
        (["ArrowLeft", "ArrowRight", "Space"], "FIRE"),
        (["ArrowUp", "ArrowDown", "ArrowLeft"], "LEFT"),
        (["ArrowUp", "ArrowDown", "ArrowLeft", "Space"], "LEFTFIRE"),
        (["KeyA", "ArrowRight", "ArrowUp"], "UP"),
        (["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"], "NOOP"),
    ],
)
def test_it_cancels_opposite_keys(held: list[str], meaning: str) -> None:
    assert keymap("Seaquest").action_for(held) == meanings("Seaquest").index(meaning)


@pytest.mark.parametrize("default_action", [0, 1])
def test_it_plays_the_default_action_when_no_key_is_held(default_action: int) -> None:
    assert keymap("Breakout", default_action=default_action).action_for([]) == default_action


def test_it_ignores_key_codes_it_does_not_know() -> None:
    keys = keymap("Seaquest")

    assert keys.action_for(["KeyQ", "Enter", "ShiftLeft"]) == 0
    assert keys.action_for(["KeyQ", "ArrowLeft"]) == meanings("Seaquest").index("LEFT")


def test_it_ignores_keys_for_moves_the_game_does_not_have() -> None:
    # Pong has no UP, so ArrowUp is not one of its keys at all.
    assert keymap("Pong").action_for(["ArrowUp"]) == 0
    assert keymap("Pong").action_for(["ArrowUp", "Space"]) == meanings("Pong").index("FIRE")
    assert keymap("MsPacman").action_for(["Space", "ArrowUp"]) == meanings("MsPacman").index("UP")


@pytest.mark.parametrize(
    ("game", "held", "meaning"),
    [
        # Othello has UPLEFT but no UPLEFTFIRE: the pair beats FIRE, UP or LEFT alone.
        ("Othello", ["ArrowUp", "ArrowLeft", "Space"], "UPLEFT"),
        ("Othello", ["ArrowDown", "ArrowRight", "Space"], "DOWNRIGHT"),
        # Tutankham fires only sideways or up: DOWN+LEFT+FIRE plays LEFTFIRE.
        ("Tutankham", ["ArrowDown", "ArrowLeft", "Space"], "LEFTFIRE"),
        # Tutankham has no FIRE alone and no DOWNFIRE: DOWN+FIRE plays DOWN.
        ("Tutankham", ["ArrowDown", "Space"], "DOWN"),
    ],
)
def test_it_falls_back_to_the_largest_held_combination(
    game: str, held: list[str], meaning: str
) -> None:
    assert keymap(game).action_for(held) == meanings(game).index(meaning)


def test_it_answers_the_same_twice() -> None:
    keys = keymap("Seaquest")
    first = keys.action_for(["ArrowUp", "ArrowLeft", "Space"])

    assert keys.action_for(["Space", "ArrowLeft", "ArrowUp"]) == first
    assert keys.action_for(["ArrowUp", "ArrowLeft", "Space"]) == first


def test_it_derives_a_map_from_a_full_action_set() -> None:
    spec = atari_key_map(meanings("Pong", full=True))

    assert spec["keys"] == ATARI_KEYS
    assert spec["combos"][""] == 0
    assert spec["combos"]["FIRE+RIGHT+UP"] == meanings("Pong", full=True).index("UPRIGHTFIRE")
    assert len(spec["combos"]) == 18


def test_it_skips_meanings_that_are_not_joystick_moves() -> None:
    spec = atari_key_map(["NOOP", "LEFT", "RIGHT", "PICKDROP"])

    assert spec["combos"] == {"": 0, "LEFT": 1, "RIGHT": 2}
    assert set(spec["keys"].values()) == {"LEFT", "RIGHT"}


# --- split_atari_meaning ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meaning", "parts"),
    [
        ("NOOP", set()),
        ("FIRE", {"FIRE"}),
        ("UP", {"UP"}),
        ("UPRIGHTFIRE", {"UP", "RIGHT", "FIRE"}),
        ("DOWNLEFTFIRE", {"DOWN", "LEFT", "FIRE"}),
        ("DOWNRIGHT", {"DOWN", "RIGHT"}),
    ],
)
def test_it_splits_a_joystick_meaning(meaning: str, parts: set[str]) -> None:
    assert split_atari_meaning(meaning) == frozenset(parts)


@pytest.mark.parametrize("meaning", ["PICKDROP", "UPX", "RESET", "noop", "up"])
def test_it_does_not_split_other_meanings(meaning: str) -> None:
    assert split_atari_meaning(meaning) is None


# --- digit maps ------------------------------------------------------------------------------


def test_it_chooses_actions_with_digit_keys() -> None:
    keys = KeyMap(digit_key_map(4), default_action=0, n_actions=4)

    assert keys.codes == ["Digit1", "Digit2", "Digit3"]
    assert [keys.action_for([f"Digit{i}"]) for i in (1, 2, 3)] == [1, 2, 3]
    assert keys.action_for([]) == 0
    assert keys.action_for(["Digit4"]) == 0


def test_it_offers_at_most_nine_digit_keys() -> None:
    spec = digit_key_map(40)

    assert sorted(spec["keys"]) == [f"Digit{i}" for i in range(1, 10)]
    KeyMap(spec, default_action=0, n_actions=40)  # and it is a valid map


def test_it_offers_no_digit_keys_for_a_single_action() -> None:
    assert digit_key_map(1) == {"keys": {}, "combos": {"": 0}}


# --- invalid maps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [{}, {"keys": {}}, {"combos": {}}, {"keys": [], "combos": {}}, {"keys": {}, "combos": None}],
)
def test_it_refuses_a_map_without_keys_and_combos(spec: dict[str, Any]) -> None:
    with pytest.raises(KeyMapError, match='needs "keys" and "combos" objects'):
        KeyMap(spec, default_action=0, n_actions=6)


@pytest.mark.parametrize("action", [6, -1, 99])
def test_it_refuses_a_combination_with_an_action_out_of_range(action: int) -> None:
    spec = {"keys": {"Space": "FIRE"}, "combos": {"": 0, "FIRE": action}}

    with pytest.raises(KeyMapError, match=r"'FIRE' maps to -?\d+, not an action from 0 to 5"):
        KeyMap(spec, default_action=0, n_actions=6)


@pytest.mark.parametrize("action", ["1", 1.0, None])
def test_it_refuses_a_combination_whose_action_is_not_a_whole_number(action: Any) -> None:
    spec = {"keys": {"Space": "FIRE"}, "combos": {"FIRE": action}}

    with pytest.raises(KeyMapError, match="not an action from 0 to 5"):
        KeyMap(spec, default_action=0, n_actions=6)


def test_it_refuses_true_as_an_action() -> None:
    # An admin typing {"FIRE": true} means something, but not action 1; JSON booleans are
    # not action numbers (play.protocol refuses them as integers for the same reason).
    spec = {"keys": {"Space": "FIRE"}, "combos": {"FIRE": True}}

    with pytest.raises(KeyMapError, match="not an action from 0 to 5"):
        KeyMap(spec, default_action=0, n_actions=6)


@pytest.mark.parametrize("symbol", ["", None, 3])
def test_it_refuses_a_key_without_a_name(symbol: Any) -> None:
    spec = {"keys": {"Space": symbol}, "combos": {"": 0}}

    with pytest.raises(KeyMapError, match="Key 'Space' must map to a non-empty name"):
        KeyMap(spec, default_action=0, n_actions=6)


@pytest.mark.parametrize("default_action", [6, -1])
def test_it_refuses_a_default_action_out_of_range(default_action: int) -> None:
    with pytest.raises(KeyMapError, match="default action must be from 0 to 5"):
        KeyMap(atari_key_map(meanings("Pong")), default_action=default_action, n_actions=6)


def test_it_refuses_a_derived_map_for_fewer_actions_than_the_game_has() -> None:
    with pytest.raises(KeyMapError, match="not an action from 0 to 3"):
        KeyMap(atari_key_map(meanings("Pong")), default_action=0, n_actions=4)


def _registered_ale_games() -> list[str]:
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    return sorted(k for k in gymnasium.envs.registry if k.startswith("ALE/") and k.endswith("-v5"))


def test_it_gives_every_one_of_ales_games_a_map_that_reaches_all_its_actions() -> None:
    from games.engine.keymap import ATARI_KEYS, KeyMap, atari_key_map, split_atari_meaning
    from games.engine.machines import make_env

    first_code: dict[str, str] = {}
    for code, symbol in ATARI_KEYS.items():
        first_code.setdefault(symbol, code)
    games = _registered_ale_games()
    assert len(games) == 104
    for env_id in games:
        env = make_env(env_id, {"frameskip": 1, "repeat_action_probability": 0.0})
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        env.close()
        keymap = KeyMap(atari_key_map(meanings), default_action=0, n_actions=len(meanings))
        for action, meaning in enumerate(meanings):
            parts = split_atari_meaning(meaning)
            assert parts is not None, (env_id, meaning)
            held = [first_code[part] for part in parts]
            assert keymap.action_for(held) == action, (env_id, meaning)


def test_it_describes_a_derived_key_map_by_the_actions_its_keys_play() -> None:
    names = meanings("Breakout")
    controls = {c.symbol: c for c in describe(atari_key_map(names), names)}
    assert controls["RIGHT"].keys == ("→", "D")
    assert controls["RIGHT"].does == "right"
    assert controls["FIRE"].keys == ("Space",)


def test_it_describes_a_meaning_by_its_label_when_the_map_gives_one() -> None:
    spec = {
        "keys": {"ArrowUp": "UP", "KeyW": "UP"},
        "combos": {"": 0, "UP": 2},
        "labels": {"UP": "paddle up"},
    }
    [control] = describe(spec, meanings("Pong"))
    assert (control.keys, control.does) == (("↑", "W"), "paddle up")


def test_it_names_keys_by_their_legends() -> None:
    assert [key_name(c) for c in ("KeyQ", "Digit3", "Numpad4", "Enter", "F1")] == [
        "Q",
        "3",
        "Numpad 4",
        "Enter",
        "F1",
    ]


def test_it_refuses_on_screen_buttons_for_meanings_no_key_has() -> None:
    spec = {"keys": {"Space": "FIRE"}, "combos": {"": 0, "FIRE": 1}, "touch": ["JUMP"]}
    with pytest.raises(KeyMapError, match="touch"):
        KeyMap(spec, default_action=0, n_actions=2)


def test_it_describes_an_env_without_action_names_by_its_action_numbers() -> None:
    controls = describe(digit_key_map(3), ["0", "1", "2"])
    assert [(c.keys, c.does) for c in controls] == [(("1",), "action 1"), (("2",), "action 2")]
