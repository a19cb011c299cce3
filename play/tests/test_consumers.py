"""The play socket, driven through the real ASGI application with WebsocketCommunicator."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from games.engine.codec import FrameDecoder
from play import engine, match
from play import protocol as p
from recording import chunkfile, stepcolumns
from recording.models import Chunk, Episode

from .sockets import closed_with, connect, end_every_game

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


class Player:
    """A scripted client: decodes every frame like the browser does and acks as asked."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.decoder = FrameDecoder()
        self.frames: dict[int, np.ndarray] = {}
        self.texts: list[dict[str, Any]] = []
        self.seq = 0
        self.hello: dict[str, Any] = {}
        self.episode: str = ""

    async def open(self) -> None:
        connected, _ = await self.ws.connect()
        assert connected
        self.hello = await self.ws.receive_json_from(timeout=5)
        assert self.hello["type"] == "hello"

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_to(text_data=json.dumps(message))

    async def start(self, *, begin: bool = True) -> None:
        """New game; ``begin`` as the page does once the player is ready (else it waits)."""
        await self.send({"type": "start"})
        msg = await self.next_text("episode")
        self.episode = msg["episode"]
        if begin:
            await self.send({"type": "begin"})

    async def press(self, *keys: str) -> None:
        self.seq += 1
        await self.send(
            {
                "type": "input",
                "seq": self.seq,
                "keys": list(keys),
                "frame": self.decoder.number,
                "t_shown": 1000.0,
                "t_key": 1001.5,
            }
        )

    async def receive(self) -> tuple[str, Any]:
        message = await self.ws.receive_output(timeout=10)
        assert message["type"] == "websocket.send", message
        if message.get("bytes") is not None:
            header, frame = self.decoder.decode(message["bytes"])
            self.frames[header.frame] = frame.copy()
            if header.frame % self.hello["ack_every"] == 0:
                await self.send({"type": "ack", "frame": header.frame})
            return "frame", header
        data = json.loads(message["text"])
        self.texts.append(data)
        return "text", data

    async def text(self, kind: str) -> dict[str, Any]:
        """The first message of that kind, received already or next."""
        seen = next((t for t in self.texts if t["type"] == kind), None)
        return seen if seen is not None else await self.next_text(kind)

    async def next_text(self, kind: str) -> dict[str, Any]:
        while True:
            what, data = await self.receive()
            if what == "text" and data["type"] == kind:
                return data  # type: ignore[no-any-return]

    async def play(self, frames: int) -> p.FrameHeader:
        last = None
        while True:
            what, data = await self.receive()
            if what == "frame":
                last = data
                if data.frame >= frames or data.flags & p.FLAG_EPISODE_OVER:
                    return last


async def test_it_refuses_anonymous_players(pong: Any) -> None:
    assert await closed_with(await connect("pong")) == p.CLOSE_UNAUTHENTICATED


async def test_it_refuses_sockets_from_other_origins(pong: Any, alice: Any) -> None:
    communicator = await connect("pong", alice, origin=(b"origin", b"http://evil.example"))
    connected, _ = await communicator.connect()
    assert not connected


async def test_it_refuses_unknown_games(alice: Any) -> None:
    assert await closed_with(await connect("no-such-game", alice)) == p.CLOSE_NOT_FOUND


async def test_it_greets_with_the_game_its_keys_and_flow_control(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    game = player.hello["game"]
    assert (game["slug"], game["fps"], game["turn_based"]) == ("pong", 60, False)
    assert (game["width"], game["height"], game["pixel_format"]) == (160, 210, "indexed")
    assert game["palette"] is None  # docs/protocol.md: the episode message carries it
    assert game["keys"] == ["ArrowDown", "ArrowUp", "KeyS", "KeyW"]  # the paddle: up, down
    assert player.hello["window"] > player.hello["ack_every"] > 0
    await player.ws.disconnect()


async def test_it_answers_bad_messages_with_errors_and_keeps_playing(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.send({"type": "input", "seq": 1, "keys": [], "frame": 0, "t_shown": 0, "t_key": 0})
    assert (await player.next_text("error"))["code"] == "not_started"
    await player.start()
    for bad, code in [
        ("this is not json", "bad_message"),
        ("[1, 2]", "bad_message"),
        ("{}", "bad_message"),  # not "Unknown message type 'None'"
        (json.dumps({"type": "teleport"}), "unknown_type"),
        (json.dumps({"type": "input", "seq": "one"}), "bad_field"),
        (
            json.dumps(
                {"type": "input", "seq": 5, "keys": "Space", "frame": 0, "t_shown": 0, "t_key": 0}
            ),
            "bad_field",
        ),
        (json.dumps({"type": "ack", "frame": -1}), "bad_field"),
        ("x" * 5000, "too_large"),
    ]:
        await player.ws.send_to(text_data=bad)
        error = await player.next_text("error")
        assert error["code"] == code, bad
        assert error["message"]
    await player.ws.send_to(bytes_data=b"\x00\x01")
    assert (await player.next_text("error"))["code"] == "bad_message"
    # The game went on through all of that, and still takes input.
    await player.press("Space")
    header = await player.play(frames=90)
    assert header.input_seq == player.seq
    await player.ws.disconnect()


async def test_it_refuses_input_naming_another_players_episode(
    pong: Any, alice: Any, bob: Any
) -> None:
    alices = Player(await connect("pong", alice))
    bobs = Player(await connect("pong", bob))
    await alices.open()
    await bobs.open()
    await alices.start()
    await bobs.start()
    await bobs.send(
        {
            "type": "input",
            "seq": 1,
            "keys": ["Space"],
            "frame": 0,
            "t_shown": 0,
            "t_key": 0,
            "episode": alices.episode,
        }
    )
    assert (await bobs.next_text("error"))["code"] == "wrong_episode"
    await alices.play(frames=30)
    await alices.ws.disconnect()
    await bobs.ws.disconnect()
    episode = await Episode.objects.aget(pk=alices.episode)
    assert await episode.transitions.filter(input_seq__gt=0).acount() == 0
    assert episode.user_id == alice.pk


async def test_it_records_every_step_and_frame_of_a_played_episode(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=40)
    await player.press("ArrowUp")  # Pong's paddle up: RIGHT in its minimal action set
    await player.play(frames=120)
    await player.press()
    await player.play(frames=150)
    await player.ws.disconnect()

    episode = await Episode.objects.aget(pk=player.episode)
    assert (episode.status, episode.end_reason) == ("complete", "abandoned")
    assert episode.steps >= 150
    assert episode.integrity_error == ""
    transitions = [t async for t in episode.transitions.order_by("step")]
    assert [t.step for t in transitions] == list(range(episode.steps))
    meanings = pong.action_meanings
    applied = {meanings[t.action] for t in transitions if t.input_seq == 1}
    assert applied == {"RIGHT"}
    assert {meanings[t.action] for t in transitions if t.input_seq in (0, 2)} == {"NOOP"}
    pressed = next(t for t in transitions if t.input_seq == 1)
    assert (pressed.t_shown, pressed.t_key) == (1000.0, 1001.5)
    assert pressed.t_received is not None and pressed.t_step >= pressed.t_received

    # Every stored frame is exactly the frame the player saw.
    stored: list[np.ndarray] = []
    previous = None
    async for chunk in Chunk.objects.filter(episode=episode).order_by("index"):
        with chunk.file.open("rb") as handle:
            _, frames = chunkfile.decode(handle.read(), previous)
        previous = frames[-1]
        stored.extend(frames)
    assert len(stored) == episode.steps + 1
    for number, frame in player.frames.items():
        assert np.array_equal(stored[number], frame), number
    assert episode.total_return == sum(t.reward for t in transitions)


async def test_it_records_the_keys_held_as_given_and_when_each_frame_was_sent(
    pong: Any, alice: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=10)
    await player.press("ArrowLeft", "ArrowRight", "NoSuchKey")  # unknown codes kept too
    await player.play(frames=40)
    await player.press()
    await player.play(frames=70)
    await player.ws.disconnect()

    steps: dict[str, list[Any]] = {"input_seq": [], "keys": [], "t_step": [], "t_sent": []}
    previous = None
    async for chunk in Chunk.objects.filter(episode_id=player.episode).order_by("index"):
        with chunk.file.open("rb") as handle:
            header, frames = chunkfile.decode(handle.read(), previous)
        previous = frames[-1]
        for name, values in steps.items():
            values.extend(stepcolumns.by_name(header["steps"])[name])
    held = {seq: keys for seq, keys in zip(steps["input_seq"], steps["keys"], strict=True)}
    assert held == {0: [], 1: ["ArrowLeft", "ArrowRight", "NoSuchKey"], 2: []}
    sent = [(s, t) for s, t in zip(steps["t_step"], steps["t_sent"], strict=True) if t]
    assert len(sent) >= 60  # the player acked: every frame it was shown went out
    assert all(t_sent >= t_step for t_step, t_sent in sent)


async def test_it_ends_an_episode_at_the_step_limit_as_truncated(
    make_game: Any, alice: Any
) -> None:
    await sync_to_async(make_game)("breakout", max_steps=50)
    player = Player(await connect("breakout", alice))
    await player.open()
    await player.start()
    header = await player.play(frames=10**6)
    assert header.flags & p.FLAG_TRUNCATED and header.frame == 50
    end = await player.next_text("episode_end")
    assert (end["reason"], end["steps"]) == ("truncated", 50)
    await player.ws.disconnect()
    episode = await Episode.objects.aget(pk=player.episode)
    assert (episode.status, episode.end_reason, episode.steps) == ("complete", "truncated", 50)
    assert await episode.transitions.acount() == 50


async def test_it_records_new_game_as_restarted_not_as_the_player_leaving(
    pong: Any, alice: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    first = player.episode
    await player.play(frames=20)
    await player.start()
    ended = next(t for t in player.texts if t["type"] == "episode_end")
    assert (ended["episode"], ended["reason"]) == (first, "restarted")
    assert player.episode != first
    await player.play(frames=10)
    await player.ws.disconnect()
    old = await Episode.objects.aget(pk=first)
    assert (old.status, old.end_reason) == ("complete", "restarted")
    new = await Episode.objects.aget(pk=player.episode)
    assert new.end_reason == "abandoned"  # the player left it (closed the socket)
    assert await old.transitions.acount() == old.steps >= 20
    # The new episode played on the machine the old one gave back: its recording still names
    # every colour it shows (the machine learns each episode's palette afresh).
    previous = None
    async for chunk in Chunk.objects.filter(episode=new).order_by("index"):
        with chunk.file.open("rb") as handle:
            header, frames = chunkfile.decode(handle.read(), previous)
        previous = frames[-1]
        known = {index for index, *_ in header["palette"] or []}
        assert set(np.unique(frames).tolist()) <= known, chunk.index
    assert previous is not None


async def test_it_steps_a_turn_based_game_only_on_key_presses(hanoi: Any, alice: Any) -> None:
    player = Player(await connect("tower-of-hanoi", alice))
    await player.open()
    assert player.hello["game"]["turn_based"]
    assert player.hello["game"]["pixel_format"] == "rgb"
    await player.start()
    await player.play(frames=0)
    for keys in (["Space"], [], ["ArrowRight"], [], ["Space"], []):
        await player.press(*keys)
    header = await player.play(frames=3)
    assert header.frame == 3
    assert not np.array_equal(player.frames[0], player.frames[3])
    await player.ws.disconnect()
    episode = await Episode.objects.aget(pk=player.episode)
    assert episode.steps == 3
    actions = [t.action async for t in episode.transitions.order_by("step")]
    assert actions == [3, 2, 3]  # pick up, move right, drop


async def test_it_shows_the_first_frame_and_waits_for_the_player_to_begin(
    pong: Any, alice: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.send({"type": "begin"})
    assert (await player.next_text("error"))["code"] == "not_started"
    await player.start(begin=False)
    what, first = await player.receive()
    assert what == "frame" and first.frame == 0
    assert await player.ws.receive_nothing(timeout=0.5)  # no step before the player is ready
    await player.send({"type": "begin"})
    await player.send({"type": "begin"})  # a second begin (two keys at once) changes nothing
    header = await player.play(frames=30)
    assert header.frame == 30
    await player.ws.disconnect()
    episode = await Episode.objects.aget(pk=player.episode)
    assert episode.steps >= 30 and episode.pauses == []


async def test_it_keeps_no_record_of_a_game_left_before_it_began(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start(begin=False)
    await player.play(frames=0)
    await player.ws.disconnect()
    await end_every_game()
    # Nothing was played: a 0-step episode is nothing to study (recording.services).
    assert not await Episode.objects.filter(pk=player.episode).aexists()


async def test_it_begins_a_game_the_page_was_ready_for_before_it_had_started(
    pong: Any, alice: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.send({"type": "start"})
    await player.send({"type": "begin"})  # before the start is answered
    header = await player.play(frames=30)
    assert header.frame >= 30
    await player.ws.disconnect()


async def test_it_stops_stepping_while_the_tab_is_hidden_and_records_the_pause(
    pong: Any, alice: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=20)
    await player.send({"type": "pause"})
    await player.send({"type": "ping", "t": 1.0})
    while (await player.receive())[0] != "text" or player.texts[-1]["type"] != "pong":
        pass  # frames stepped before the pause arrived
    paused_at = player.decoder.number
    assert await player.ws.receive_nothing(timeout=0.5)
    await player.send({"type": "begin"})
    what, header = await player.receive()
    assert what == "frame" and header.frame == paused_at + 1  # on from where it stopped
    await player.play(frames=paused_at + 20)
    await player.ws.disconnect()
    episode = await Episode.objects.aget(pk=player.episode)
    [pause] = episode.pauses
    assert (pause["step"], pause["why"]) == (paused_at, "hidden")
    assert pause["seconds"] >= 0.5
    assert await episode.transitions.acount() == episode.steps


async def test_it_ends_a_game_whose_player_never_begins_so_it_holds_no_seat_for_ever(
    pong: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = dataclasses.replace(engine.live_settings(), wait_for_player=0.3)
    monkeypatch.setattr(engine, "live_settings", lambda: waiting)
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start(begin=False)
    end = await player.next_text("episode_end")
    assert (end["episode"], end["reason"], end["steps"]) == (player.episode, "abandoned", 0)
    assert player.episode not in engine.heartbeat().live  # its seat is free
    await player.ws.disconnect()


async def test_it_ends_a_game_paused_too_long_with_every_step_played(
    pong: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = dataclasses.replace(engine.live_settings(), wait_for_player=0.5)
    monkeypatch.setattr(engine, "live_settings", lambda: waiting)
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=20)
    await player.send({"type": "pause"})
    end = await player.next_text("episode_end")
    assert end["reason"] == "abandoned" and end["steps"] >= 20
    await player.ws.disconnect()
    episode = await Episode.objects.aget(pk=player.episode)
    assert await episode.transitions.acount() == episode.steps == end["steps"]


async def test_it_caps_the_pauses_one_episode_records(
    pong: Any, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(match, "MAX_PAUSES", 2)
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    for _ in range(2):
        await player.send({"type": "pause"})
        await player.send({"type": "begin"})
    await player.send({"type": "pause"})
    assert (await player.next_text("error"))["code"] == "no_pause"
    header = await player.play(frames=player.decoder.number + 10)  # and the game goes on
    assert not header.flags & p.FLAG_EPISODE_OVER
    await player.ws.disconnect()
    episode = await Episode.objects.aget(pk=player.episode)
    assert len(episode.pauses) == 2


async def test_it_refuses_to_pause_a_game_that_goes_on_while_hidden(hanoi: Any, alice: Any) -> None:
    player = Player(await connect("tower-of-hanoi", alice))
    await player.open()
    assert player.hello["game"]["pauses_when_hidden"] is False  # turn-based: it waits anyway
    await player.start()
    await player.send({"type": "pause"})
    assert (await player.next_text("error"))["code"] == "no_pause"
    await player.ws.disconnect()


async def test_it_tells_a_two_sided_game_both_sides_points(pong: Any, alice: Any) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    assert player.hello["game"]["two_sided_score"] is True
    await player.start()
    points = await player.next_text("points")  # the computer scores while nobody plays
    assert points["points"] == [0.0, 1.0]
    what, header = await player.receive()
    assert what == "frame" and header.score == -1.0  # the return: 0 points minus 1
    await player.ws.disconnect()


async def test_it_says_what_each_turn_did_in_a_turn_based_game(hanoi: Any, alice: Any) -> None:
    player = Player(await connect("tower-of-hanoi", alice))
    await player.open()
    await player.start()
    await player.play(frames=0)
    # Disk 1 to the middle peg, then disk 2 on top of it: not allowed.
    for keys in (["Space"], [], ["ArrowRight"], [], ["Space"], []):
        await player.press(*keys)
    for keys in (["ArrowLeft"], [], ["Space"], [], ["ArrowRight"], [], ["Space"], []):
        await player.press(*keys)
    turns = [await player.next_text("turn") for _ in range(7)]
    assert [t["info"]["moves"] for t in turns] == [0, 0, 1, 1, 1, 1, 1]
    assert [t["info"]["illegal"] for t in turns] == [False] * 6 + [True]
    assert [t["frame"] for t in turns] == list(range(1, 8))
    await player.ws.disconnect()


async def test_it_refuses_a_flood_politely_without_ending_the_game(
    pong: Any, alice: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "MAX_MESSAGES_PER_SECOND": 20}
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    for _ in range(60):
        await player.send({"type": "ping", "t": 1.0})
    assert (await player.next_text("error"))["code"] == "rate_limited"
    header = await player.play(frames=90)
    assert header.frame >= 90
    await player.ws.disconnect()


async def test_it_drops_frames_for_a_client_that_falls_behind_but_keeps_the_games_clock(
    pong: Any, alice: Any
) -> None:
    player = Player(await connect("pong", alice))
    await player.open()
    window = player.hello["window"]
    player.hello["ack_every"] = 10**9  # this client stops acknowledging frames
    await player.start()
    received: list[p.FrameHeader] = []
    while len(received) < window + 3:
        what, data = await player.receive()
        if what == "frame":
            received.append(data)
    numbers = [h.frame for h in received]
    # Up to the window everything arrives; after it only probe keyframes, one in 30 frames.
    assert numbers[: window + 1] == list(range(window + 1))
    probes = received[window + 1 :]
    assert all(h.kind == p.KIND_KEYFRAME for h in probes)
    assert [b.frame - a.frame for a, b in itertools.pairwise(probes)] == [30]
    # The client catches up with an ack: frames flow again, as deltas after a keyframe.
    await player.send({"type": "ack", "frame": probes[-1].frame})
    header = await player.play(frames=probes[-1].frame + 5)
    assert header.kind == p.KIND_DELTA
    await player.ws.disconnect()
    episode = await Episode.objects.aget(pk=player.episode)
    # The game ran on its own clock the whole time: every step was taken and recorded.
    assert episode.steps >= header.frame
    assert await episode.transitions.acount() == episode.steps


async def test_it_keeps_a_player_waiting_for_a_seat_instead_of_degrading_every_game(
    pong: Any, alice: Any, bob: Any, settings: Any
) -> None:
    settings.ARCADE = {**settings.ARCADE, "MAX_SESSIONS_PER_PROCESS": 1}
    first = Player(await connect("pong", alice))
    await first.open()
    await first.start()
    await first.play(frames=5)

    second = Player(await connect("pong", bob))
    await second.open()
    await second.send({"type": "start"})
    refused = await second.next_text("error")
    assert refused["code"] == "full"
    assert "seats are taken" in refused["message"]

    await first.ws.disconnect()  # a seat comes free
    await second.start()
    await second.play(frames=5)
    await second.ws.disconnect()


async def test_it_tells_the_players_pages_when_a_worker_has_saved_an_episode(
    pong: Any, alice: Any
) -> None:
    elsewhere = Player(await connect("pong", alice))  # another tab of the same player
    await elsewhere.open()
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    first = player.episode
    await player.play(frames=30)

    await player.start()  # ends the first as abandoned; the (eager) worker finalises it

    for page in (player, elsewhere):
        saved = await page.text("episode_saved")  # it may come before the new game's episode
        assert saved == {
            "type": "episode_saved",
            "episode": first,
            "status": "complete",
            "verification": "verified",
            "steps": saved["steps"],
        }
        assert saved["steps"] >= 30
    await player.ws.disconnect()
    await elsewhere.ws.disconnect()


async def test_it_never_tells_a_player_about_another_players_episode(
    pong: Any, alice: Any, bob: Any
) -> None:
    onlooker = Player(await connect("pong", bob))
    await onlooker.open()
    player = Player(await connect("pong", alice))
    await player.open()
    await player.start()
    await player.play(frames=30)
    await player.start()
    await player.next_text("episode_saved")

    await onlooker.send({"type": "ping", "t": 1.0})
    await onlooker.next_text("pong")  # a notice sent to bob too would have come by now

    assert [t["type"] for t in onlooker.texts] == ["pong"]
    await player.ws.disconnect()
    await onlooker.ws.disconnect()
