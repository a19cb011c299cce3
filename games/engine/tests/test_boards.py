"""Board games as multi-seat machines: PettingZoo's rules and masks, turns, refused moves,
rewards, determinism, freeze/thaw, replay, and the AI that wins if it can and blocks if it must.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from pettingzoo.classic import connect_four_v3, tictactoe_v3

from games.engine.boards import (
    BoardMachine,
    board_game,
    one_ply,
    seated_game,
)
from games.engine.machines import GameConfig, build_machine
from games.engine.multireplay import MultiReplayer, replay_multi
from games.engine.registry import is_board

GAMES = ("tictactoe", "connect_four", "quarto")
REFERENCES = {"tictactoe": tictactoe_v3, "connect_four": connect_four_v3}


def joint(machine: BoardMachine, action: int) -> list[int]:
    """The joint action in which the seat to move plays ``action`` and the other NOOP."""
    actions = [machine.game.noop] * machine.seats
    assert machine.to_move is not None
    actions[machine.to_move] = action
    return actions


def play(machine: BoardMachine, *moves: int) -> None:
    for move in moves:
        outcome = machine.step(joint(machine, move))
        assert not outcome.info["illegal"], outcome.info


def random_game(name: str, seed: int) -> list[int]:
    """The moves of a random game played to its end."""
    machine = BoardMachine(name)
    machine.start(seed, None)
    rng = np.random.default_rng(seed)
    moves = []
    while machine.to_move is not None:
        move = int(rng.choice(np.flatnonzero(machine.action_mask(machine.to_move))))
        play(machine, move)
        moves.append(move)
    return moves


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("seed", range(5))
def test_it_plays_pettingzoos_rules_with_its_observations_masks_and_rewards(
    name: str, seed: int
) -> None:
    reference = REFERENCES[name].env()
    reference.reset(seed=seed)
    machine = BoardMachine(name)
    machine.start(seed, None)
    agents = reference.possible_agents
    for move in random_game(name, seed):
        for seat, agent in enumerate(agents):
            seen = reference.observe(agent)
            assert (machine.observe(seat) == seen["observation"]).all()
            assert (machine.action_mask(seat)[:-1] == seen["action_mask"]).all()
            assert machine.action_mask(seat)[-1] == 0, "NOOP is never a legal move"
        assert machine.to_move == agents.index(reference.agent_selection)
        reference.step(move)
        outcome = machine.step(joint(machine, move))
        assert outcome.rewards == [float(reference.rewards[agent]) for agent in agents]
        assert outcome.terminated == all(reference.terminations.values())
    assert outcome.terminated and machine.to_move is None


@pytest.mark.parametrize("name", GAMES)
def test_it_gives_the_move_to_one_seat_at_a_time(name: str) -> None:
    machine = BoardMachine(name)
    machine.start(0, None)
    assert machine.to_move == 0
    assert machine.action_mask(0).any() and not machine.action_mask(1).any()
    first = int(np.flatnonzero(machine.action_mask(0))[0])
    outcome = machine.step([first, machine.game.noop])
    assert outcome.info["seat"] == 0 and outcome.info["action"] == first
    if name != "quarto":  # quarto's placer gives a piece next: still their turn
        assert machine.to_move == 1 and outcome.info["to_move"] == 1
        assert machine.action_mask(1).any() and not machine.action_mask(0).any()


@pytest.mark.parametrize(
    ("name", "before", "refused"),
    [
        ("tictactoe", [4], 4),  # a taken cell
        ("connect_four", [3, 3, 3, 3, 3, 3], 3),  # a full column
        ("quarto", [16], 16),  # a piece already given
        ("quarto", [16, 5], 5),  # a taken cell... while it is time to give
        ("tictactoe", [], 9),  # NOOP from the seat to move
        ("tictactoe", [], 99),  # no action at all
        ("connect_four", [], -1),
    ],
)
def test_it_refuses_an_illegal_move_and_changes_nothing(
    name: str, before: list[int], refused: int
) -> None:
    machine = BoardMachine(name)
    machine.start(0, None)
    play(machine, *before)
    seat, frame, moves = machine.to_move, machine.frame.copy(), list(machine.moves)
    outcome = machine.step(joint(machine, refused))
    assert outcome.info["illegal"] and outcome.info["reason"]
    assert outcome.rewards == [0.0, 0.0] and not outcome.terminated and not outcome.truncated
    assert machine.to_move == seat and machine.moves == moves
    assert (machine.frame == frame).all()
    assert machine.refusal(seat, refused) == outcome.info["reason"]  # type: ignore[arg-type]


def test_it_ignores_the_action_of_the_seat_that_is_not_to_move() -> None:
    machine = BoardMachine("tictactoe")
    machine.start(0, None)
    machine.step([4, 0])  # seat 1 "plays" cell 0: not its turn
    assert machine.moves == [4]
    assert machine.refusal(0, 0) == "It is not your turn."


def test_it_says_why_a_seat_may_not_move() -> None:
    machine = BoardMachine("connect_four")
    machine.start(0, None)
    play(machine, *[0] * 6)
    assert machine.refusal(0, 1) is None
    assert "COLUMN0 is not a legal move" in (machine.refusal(0, 0) or "")
    assert "action number" in (machine.refusal(0, "x") or "")


def test_it_raises_for_a_joint_action_of_the_wrong_length() -> None:
    machine = BoardMachine("tictactoe")
    machine.start(0, None)
    with pytest.raises(ValueError, match="one action per seat"):
        machine.step([4])


def test_it_truncates_after_max_steps_even_of_refused_moves() -> None:
    machine = BoardMachine("tictactoe", max_steps=3)
    machine.start(0, None)
    outcomes = [machine.step(joint(machine, 9)) for _ in range(3)]
    assert [o.truncated for o in outcomes] == [False, False, True]


def test_it_rewards_the_winner_and_the_loser_once() -> None:
    machine = BoardMachine("tictactoe")
    machine.start(0, None)
    # Crosses take the first column (cells 0, 1, 2: column 0, rows 0-2), noughts column 1.
    play(machine, 0, 3, 1, 4)
    outcome = machine.step(joint(machine, 2))
    assert outcome.rewards == [1.0, -1.0] and outcome.terminated
    assert outcome.info["winner"] == 0 and outcome.info["to_move"] == -1
    assert outcome.info["moves"] == 5
    after = machine.step([0, 0])  # a step after the end refuses, never crashes
    assert after.info["illegal"] and after.rewards == [0.0, 0.0]


@pytest.mark.parametrize("name", GAMES)
def test_it_draws_small_rgb_frames_that_change_with_each_move(name: str) -> None:
    machine = BoardMachine(name)
    machine.start(0, None)
    first = machine.frame.copy()
    assert machine.pixel_format == "rgb" and first.dtype == np.uint8 and first.shape[2] == 3
    assert first.shape[0] * first.shape[1] <= 320 * 240
    move = int(np.flatnonzero(machine.action_mask(0))[0])
    machine.step([move, machine.game.noop])
    assert machine.diff is not None and machine.changed is not None and machine.changed.size
    assert (machine.frame != first).any()
    for left, top, width, height, action in machine.game.regions:
        assert left >= 0 and left + width <= first.shape[1], action
        assert top >= 0 and top + height <= first.shape[0], action


@pytest.mark.parametrize("name", GAMES)
def test_it_goes_on_exactly_after_freeze_and_thaw(name: str) -> None:
    moves = random_game(name, 3)
    half = len(moves) // 2
    machine = BoardMachine(name)
    machine.start(3, None)
    play(machine, *moves[:half])
    frozen = machine.freeze()
    other = BoardMachine(name)
    other.thaw(frozen)
    assert (other.frame == machine.frame).all() and other.steps == machine.steps
    for move in moves[half:]:
        a, b = machine.step(joint(machine, move)), other.step(joint(other, move))
        assert a.rewards == b.rewards and a.terminated == b.terminated
        assert (machine.frame == other.frame).all()


def test_it_refuses_to_thaw_another_games_state() -> None:
    frozen = BoardMachine("tictactoe").freeze()
    with pytest.raises(ValueError, match="cannot go on"):
        BoardMachine("quarto").thaw(frozen)


@pytest.mark.parametrize("name", GAMES)
def test_it_replays_a_recorded_game_frame_for_frame_whatever_the_seed(name: str) -> None:
    moves = random_game(name, 7)
    machine = BoardMachine(name)
    machine.start(7, None)
    recorded = [machine.frame.copy()]
    joints = []
    for move in [*moves[:2], machine.game.noop, *moves[2:]]:  # a refused move in between
        joints.append(joint(machine, move))
        machine.step(joints[-1])
        recorded.append(machine.frame.copy())
    replayed = list(replay_multi(name, {}, 12345, joints, with_rgb=True))
    assert len(replayed) == len(recorded)
    for frame, stored in zip(replayed, recorded, strict=True):
        assert frame.rgb is not None
        assert np.array_equal(frame.frame, stored) and np.array_equal(frame.rgb, stored)
    assert replayed[-1].terminated
    with MultiReplayer(name, {}, 0) as replayer:
        assert not replayer.resumable and replayer.checkpoint() is None


def test_the_engine_builds_a_board_machine_for_a_board_games_env_id() -> None:
    assert is_board("multi/quarto") and not is_board("multi/pong") and not is_board("quarto")
    config = GameConfig(
        slug="t",
        title="t",
        env_id="multi/connect_four",
        env_kwargs={"max_steps": 100},
        fps=4,
        turn_based=True,
        key_map={},
        default_action=7,
        max_steps=100,
        n_actions=8,
    )
    machine = build_machine(config)
    assert isinstance(machine, BoardMachine) and machine.max_steps == 100
    assert seated_game("connect_four").seats == 2 and seated_game("pong").seats == 2
    assert board_game("tictactoe").n_actions == 10 and board_game("quarto").noop == 32


# --- the AI ------------------------------------------------------------------------------


def test_the_ai_takes_a_win_when_it_has_one() -> None:
    machine = BoardMachine("connect_four")
    machine.start(0, None)
    play(machine, 0, 6, 1, 6, 2)  # red has 0, 1, 2 along the bottom; blue to move
    play(machine, 5)  # blue does not block
    assert one_ply(machine.rules, 0, np.random.default_rng(0)) == 3


def test_the_ai_blocks_a_win_it_cannot_beat() -> None:
    machine = BoardMachine("tictactoe")
    machine.start(0, None)
    play(machine, 0, 4, 1)  # crosses threaten cell 2 (column 0); noughts to move
    for seed in range(10):
        assert one_ply(machine.rules, 1, np.random.default_rng(seed)) == 2


def test_the_ai_never_gives_a_quarto_piece_that_wins_at_once() -> None:
    machine = BoardMachine("quarto")
    machine.start(0, None)
    # Row 0 gets pieces 1, 3 and 5, which are all tall and all solid; the seat to move must
    # now give a piece, and any tall or solid one would let the opponent complete the row.
    for piece, cell in ((1, 0), (3, 1), (5, 2)):
        play(machine, 16 + piece, cell)
    assert machine.to_move is not None
    for seed in range(10):
        given = one_ply(machine.rules, machine.to_move, np.random.default_rng(seed)) - 16
        assert not given & 1 and given & 8, f"gave piece {given}, which completes the row"


@pytest.mark.parametrize("name", GAMES)
def test_the_ai_plays_only_legal_moves_and_finishes_a_game(name: str) -> None:
    machine = BoardMachine(name)
    machine.start(0, None)
    rng = np.random.default_rng(0)
    while machine.to_move is not None:
        seat = machine.to_move
        move = one_ply(machine.rules, seat, rng)
        assert machine.action_mask(seat)[move]
        play(machine, move)


@pytest.mark.parametrize("name", REFERENCES)
def test_pettingzoos_own_rgb_array_renders_offline(name: str) -> None:
    env = REFERENCES[name].env(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
    env.close()


def test_the_built_in_board_policy_moves_on_its_turn_only_and_plays_only_board_games() -> None:
    from games.engine.policies import built_in

    machine = BoardMachine("connect_four")
    machine.start(0, None)
    meanings = machine.action_meanings[1]
    policy = built_in("board", action_meanings=meanings, seat=1, board=True)
    policy.reset(0)
    assert policy.act(machine) == machine.game.noop  # seat 0 is to move
    play(machine, 3)
    assert machine.action_mask(1)[policy.act(machine)]
    randomly = built_in("random", action_meanings=meanings, seat=1, board=True)
    randomly.reset(0)
    assert machine.action_mask(1)[randomly.act(machine)]
    with pytest.raises(ValueError, match="board games only"):
        built_in("board", action_meanings=meanings)
    with pytest.raises(ValueError, match="random or board"):
        built_in("pong-tracker", action_meanings=meanings, board=True)


@pytest.mark.parametrize("name", GAMES)
def test_a_match_runner_plays_a_board_game_move_by_move_and_its_moves_replay(name: str) -> None:
    from games.engine.boards import TurnGame

    game = TurnGame(name)
    game.reset(5)
    rng = np.random.default_rng(5)
    game.step(game.machine.game.noop)  # a botched move changes nothing
    assert game.last is not None and game.last.info["illegal"] and game.to_move() == 0
    assert len(game.action_mask(0)) == game.machine.game.n_actions - 1  # PettingZoo's, no NOOP
    while (seat := game.to_move()) is not None:
        assert game.observation(seat).shape == game.machine.observe(seat).shape
        game.step(int(rng.choice(np.flatnonzero(game.action_mask(seat)))))
    assert sorted(game.scores()) in ([-1.0, 1.0], [0.0, 0.0])
    frames = list(replay_multi(name, {}, game.seed, game.joint_actions))
    assert np.array_equal(frames[-1].frame, game.machine.frame)
    assert frames[-1].terminated
    with pytest.raises(ValueError, match="over"):
        game.step(0)


class RandomPlayer:
    """An in-process player in the arena's ``Player`` shape: a random legal move."""

    def reset(self, seat: int, game_info: dict[str, object]) -> None:
        self.rng = np.random.default_rng(int(str(game_info["seed"])))

    def act(self, observation: np.ndarray, action_mask: Sequence[int] | np.ndarray) -> int:
        return int(self.rng.choice(np.flatnonzero(action_mask)))


@pytest.mark.parametrize("name", GAMES)
def test_the_arenas_match_runner_plays_a_board_game_to_its_end(name: str) -> None:
    from arena.sandbox.match import play_match
    from games.engine.boards import TurnGame

    for seed in range(3):
        game = TurnGame(name)
        result = play_match(game, [RandomPlayer(), RandomPlayer()], seed=seed, game_info={})
        assert result.failure is None and result.moves == len(game.joint_actions)
        assert result.scores in ((1.0, -1.0), (-1.0, 1.0), (0.0, 0.0))
        assert result.winner == (None if result.scores == (0.0, 0.0) else result.scores.index(1.0))
