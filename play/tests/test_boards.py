"""Board games through the real sockets: a person against the board player, two people, and
moves the board refuses, each game recorded and replay-verified."""

from __future__ import annotations

from typing import Any

import pytest

from recording.models import Episode

from .sockets import connect
from .test_rooms import Seated, clean_lobby, fast, game, seats_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]
__all__ = ["clean_lobby", "fast"]  # fixtures, used by name

COLUMN_KEYS = [f"Digit{column + 1}" for column in range(7)]


class BoardPlayer(Seated):
    """A player of a board game who follows the turns from the "turn" messages."""

    async def until_board(self) -> None:
        """The game has begun and its first frame, the empty board, is on the screen."""
        await self.until_episode()
        while (await self.receive())[0] != "frame":
            pass

    async def move(self, key: str) -> None:
        """Press and let go of a key (a click on the board sends the same two messages)."""
        await self.press(key)
        await self.press()

    async def turn(self, number: int) -> dict[str, Any]:
        """The move that made frame ``number``, as this player's screen hears of it."""
        while True:
            message = await self.next_turn()
            if message["type"] != "turn" or message["frame"] == number:
                return message

    async def next_turn(self) -> dict[str, Any]:
        """The next move played (or refused), or the end of the game."""
        while True:
            what, data = await self.receive()
            if what == "text" and data["type"] in ("turn", "episode_end", "error"):
                return data  # type: ignore[no-any-return]


async def test_a_person_plays_connect_four_against_the_board_player_to_a_verified_end(
    make_game: Any, alice: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "connect-four")
    player = BoardPlayer(await connect("connect-four", alice, route="match"))
    await player.open()
    seat = await player.join()
    assert seat["seat"] == 0 and "Digit4" in seat["keys"]
    await player.until_board()
    heights = [0] * 7
    moves = {0: 0, 1: 0}
    while True:
        # Alice fills the leftmost column that has room; the board player answers.
        column = next(c for c in range(7) if heights[c] < 6)
        await player.move(COLUMN_KEYS[column])
        message = await player.next_turn()
        while message["type"] == "turn":
            info = message["info"]
            assert not info["illegal"], info
            heights[info["action"]] += 1
            moves[info["seat"]] += 1
            if info["to_move"] == 0:
                break
            message = await player.next_turn()
        if message["type"] == "episode_end":
            break
        assert message["type"] == "turn", message
    assert message["reason"] == "terminated"
    assert moves[0] - moves[1] in (0, 1), "the seats moved in turn"
    # The board player saw four in a column coming and blocked it, or won.
    episode = await Episode.objects.aget(pk=player.episode)
    assert episode.steps == moves[0] + moves[1]
    assert episode.verification == "verified", episode.verification_detail
    assert await seats_of(player.episode) == [(0, "human", 0), (1, "policy", 0)]
    await player.ws.disconnect()


async def test_a_move_out_of_turn_or_into_a_full_column_is_refused_with_a_reason(
    make_game: Any, alice: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "connect-four", max_steps=20)
    player = BoardPlayer(await connect("connect-four", alice, route="match"))
    await player.open()
    await player.join()
    await player.until_board()
    await player.move("Digit1")
    turn = await player.next_turn()
    assert turn["type"] == "turn" and turn["info"]["seat"] == 0
    await player.press("Digit2")  # the board player is thinking: not Alice's turn
    refused = await player.next_turn()
    assert refused == {
        "type": "error",
        "code": "illegal_move",
        "message": "It is not your turn.",
    }
    await player.press()
    reply = await player.next_turn()
    assert reply["type"] == "turn" and reply["info"]["seat"] == 1
    # Nothing of the refused key was recorded: two moves, two steps.
    assert reply["frame"] == 2
    await player.ws.disconnect()


async def test_two_people_play_tic_tac_toe_and_the_winner_scores(
    make_game: Any, alice: Any, bob: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "tictactoe-2p")
    first = BoardPlayer(await connect("tictactoe-2p", alice, route="match"))
    second = BoardPlayer(await connect("tictactoe-2p", bob, route="match"))
    await first.open()
    await second.open()
    assert (await first.join())["seat"] == 0
    assert (await second.join())["seat"] == 1
    await first.until_board()
    await second.until_board()
    # Crosses take the top row (keys 1, 2, 3 in reading order); noughts the middle one.
    moves = [(first, "Digit1"), (second, "Digit4"), (first, "Digit2"), (second, "Digit5")]
    for number, (player, key) in enumerate(moves, start=1):
        await player.move(key)
        # Both screens show the move before the next one is made, as people see it.
        for screen in (first, second):
            turn = await screen.turn(number)
            assert turn["type"] == "turn" and turn["info"]["seat"] == (number - 1) % 2, turn
    await first.move("Digit3")
    ends = [await first.play_until_over(), await second.play_until_over()]
    assert [end["score"] for end in ends] == [1.0, -1.0]
    assert {end["reason"] for end in ends} == {"terminated"}
    episode = await Episode.objects.aget(pk=first.episode)
    assert episode.steps == 5 and episode.verification == "verified"
    assert await seats_of(first.episode) == [(0, "human", 0), (1, "human", 0)]
    await first.ws.disconnect()
    await second.ws.disconnect()


async def test_a_person_gives_and_places_quarto_pieces_by_the_clicks_keys(
    make_game: Any, alice: Any, clean_lobby: None, fast: Any
) -> None:
    await game(make_game, "quarto")
    player = BoardPlayer(await connect("quarto", alice, route="match"))
    await player.open()
    seat = await player.join()
    assert {"Move0", "Move15", "Move16", "Move31"} <= set(seat["keys"])
    await player.until_board()
    await player.move("Move16")  # a click on piece 0 in the stock: give it
    given = (await player.turn(1))["info"]
    assert (given["seat"], given["action"], given["to_move"]) == (0, 16, 1)
    # The board player places piece 0, then gives Alice a piece: two steps of its own.
    placed, gave = await player.turn(2), await player.turn(3)
    assert placed["info"]["seat"] == 1 and placed["info"]["action"] < 16
    assert gave["info"]["seat"] == 1 and gave["info"]["action"] >= 17
    assert gave["info"]["to_move"] == 0
    cell = placed["info"]["action"]
    await player.move(f"Move{cell}")  # a taken cell: refused, nothing stepped
    refused = await player.next_turn()
    assert refused["type"] == "error" and refused["code"] == "illegal_move"
    assert refused["message"] == f"PLACE{cell} is not a legal move now: pick one the board allows."
    await player.press()
    free = (cell + 1) % 16
    await player.move(f"Move{free}")
    mine = (await player.turn(4))["info"]
    assert (mine["seat"], mine["action"], mine["illegal"]) == (0, free, False)
    assert mine["to_move"] == 0  # her turn goes on: she gives the next piece
    await player.ws.disconnect()
