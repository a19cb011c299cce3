"""A game block against another participant: the block's participants meet in its own waiting
room, through the real sockets, and nobody else is seated with them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.models import User
from play.tests.sockets import connect
from play.tests.test_rooms import Seated, clean_lobby, fast  # noqa: F401 (fixtures)
from recording.models import Episode
from studies import services
from studies.models import BlockEpisode, Participant, Step, Study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def duel_study(slug: str, game: Any) -> Study:
    study = Study.objects.create(slug=slug, title=f"Duel {slug}", status=Study.Status.OPEN)
    Step.objects.create(study=study, order=0, kind="page", title="Welcome")
    Step.objects.create(study=study, order=1, kind="game", title="Duel", game=game,
                        seating="vs_human", episodes=1, countdown_seconds=1)  # fmt: skip
    return study


def on_the_block(study: Study, user: Any, pid: str) -> Participant:
    """``user`` arrives from Prolific and walks to the study's game block."""
    client = Client()
    client.force_login(user)
    assert client.get(f"/s/{study.slug}/", {"PROLIFIC_PID": pid}).status_code == 302
    page = client.get(f"/s/{study.slug}/step/").content.decode()
    tab = page.split('name="tab" value="', 1)[1].split('"', 1)[0]
    moved = client.post(f"/s/{study.slug}/step/", {"position": "0", "tab": tab})
    assert moved.status_code == 302
    participant = Participant.objects.get(study=study, user=user)
    assert participant.position == 1
    return participant


def person(email: str) -> Any:
    return User.objects.create_user(email, "a-password-1")


async def test_a_blocks_participants_meet_only_each_other_and_the_episode_is_both_of_theirs(
    make_game: Any,
    alice: Any,
    bob: Any,
    clean_lobby: None,  # noqa: F811
    fast: Any,  # noqa: F811
) -> None:
    pong2p = await sync_to_async(make_game)("pong-2p", start_countdown=0, max_steps=120)
    study, other_study = await sync_to_async(lambda: (duel_study("duel", pong2p),
                                                      duel_study("other", pong2p)))()  # fmt: skip
    carol, dave = await sync_to_async(lambda: (person("carol@example.org"),
                                               person("dave@example.org")))()  # fmt: skip
    first = await sync_to_async(on_the_block)(study, alice, "p-alice")
    second = await sync_to_async(on_the_block)(study, bob, "p-bob")
    await sync_to_async(on_the_block)(other_study, carol, "p-carol")

    alices = Seated(await connect("pong-2p", alice, route="match"))
    carols = Seated(await connect("pong-2p", carol, route="match"))
    daves = Seated(await connect("pong-2p", dave, route="match"))  # not in any study
    bobs = Seated(await connect("pong-2p", bob, route="match"))
    for player in (alices, carols, daves, bobs):
        await player.open()
    # Each of the first three waits alone: another study's participant and a visitor of the
    # public game are not seated with Alice.
    for player in (alices, carols, daves):
        assert (await player.join())["seat"] == 0
        assert (await player.next_text("lobby"))["filled"] == 1
    assert (await bobs.join())["seat"] == 1  # Bob, of Alice's block, takes her second seat
    started = [await alices.until_episode(), await bobs.until_episode()]
    assert started[0]["episode"] == started[1]["episode"]
    ends = await asyncio.gather(alices.play_until_over(), bobs.play_until_over())
    assert {end["reason"] for end in ends} == {"truncated"}

    episode = await Episode.objects.aget(pk=alices.episode)
    assert episode.context["study"] == "duel" and episode.context["block"] == "Duel"
    assert sorted(episode.context["participants"]) == sorted([str(first.pk), str(second.pk)])
    links = BlockEpisode.objects.filter(episode=episode).values_list("participant", flat=True)
    assert sorted([str(p) async for p in links]) == sorted([str(first.pk), str(second.pk)])
    # Each participant's panel counts the game, with their own seat's return.
    block = await Step.objects.aget(study=study, kind="game")
    mine, theirs = [await sync_to_async(services.block_progress)(p, block) for p in (first, second)]
    assert mine.episodes == theirs.episodes == 1 and mine.done and theirs.done
    seat_returns = episode.seat_returns or [0.0, 0.0]
    assert (mine.score, theirs.score) == (seat_returns[0], seat_returns[1])
    for player in (alices, bobs, carols, daves):
        await player.ws.disconnect()


def test_a_block_names_the_waiting_room_of_its_participants_only(make_game: Any, alice: Any,
                                                                 bob: Any) -> None:  # fmt: skip
    pong2p = make_game("pong-2p")
    study = duel_study("duel", pong2p)
    participant = on_the_block(study, alice, "p-alice")
    room = services.waiting_room(alice, pong2p)
    assert room == f"study-block-{participant.current_step_id}"
    assert services.waiting_room(bob, pong2p) is None  # not a participant: the public room
    assert services.waiting_room(alice, make_game("pong")) is None  # another game
    Participant.objects.filter(pk=participant.pk).update(state=Participant.State.WITHDREW)
    assert services.waiting_room(alice, pong2p) is None  # out of the study


def test_a_game_block_must_fit_the_seats_of_its_game(make_game: Any) -> None:
    pong, vs_ai, two = make_game("pong"), make_game("pong-vs-ai"), make_game("pong-2p")
    study = duel_study("duel", two)

    def problem(game: Any, seating: str) -> str | None:
        return Step(
            study=study, kind="game", title="x", game=game, seating=seating
        ).seating_problem()

    assert problem(pong, "alone") is None and problem(vs_ai, "vs_ai") is None
    assert problem(two, "vs_human") is None
    assert "one-player game" in (problem(two, "alone") or "")
    assert "AI fills one" in (problem(two, "vs_ai") or "")  # its AI only comes after a wait
    assert "two that people take" in (problem(vs_ai, "vs_human") or "")
    assert "two that people take" in (problem(pong, "vs_human") or "")
    two.enabled = False
    two.save()
    assert study.unplayable() == ["Duel: Pong for two is disabled in the catalogue."]
