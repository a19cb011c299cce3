"""AI policies in the admin: a researcher uploads a model, and a bad one is a form error."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from games.engine.tests.models import linear, nature_dqn
from games.models import Game, Policy
from games.services import policy_build

pytestmark = pytest.mark.django_db

ADD = "/admin/games/policy/add/"


@pytest.fixture
def admin_client(db: Any) -> Client:
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    return client


def upload(content: bytes, name: str = "model.onnx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def policy_form(game: Game, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "game": str(game.pk),
        "name": "DQN",
        "kind": "onnx",
        "observation": "atari",
        "every_k": "4",
        "enabled": "on",
        "notes": "",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def test_it_saves_an_onnx_policy_whose_model_fits_the_game(
    admin_client: Client, pong: Game
) -> None:
    model = nature_dqn(len(pong.action_meanings))
    response = admin_client.post(ADD, policy_form(pong, model=upload(model)))

    assert response.status_code == 302, response.content.decode()[:2000]
    policy = Policy.objects.get(name="DQN")
    assert policy.model_sha256 == hashlib.sha256(model).hexdigest()
    with policy.model.open("rb") as stored:
        assert stored.read() == model
    # and it plays: the engine's policy built from what was stored
    engine = policy_build(policy)
    assert engine.every_k == 4
    assert 0 <= engine.decide(np.zeros((4, 84, 84), np.uint8)) < len(pong.action_meanings)


@pytest.mark.parametrize(
    ("model", "observation", "message"),
    [
        (lambda n: nature_dqn(n + 1), "atari", "outputs for an observation"),
        (lambda n: linear(n, [1, 128]), "atari", "the spec &#x27;atari&#x27; gives"),
        (lambda n: b"not an onnx file", "atari", "cannot load this file as an ONNX model"),
    ],
    ids=["one output too many", "wrong observation", "not onnx"],
)
def test_it_refuses_a_model_that_cannot_play_the_game_with_the_reason(
    admin_client: Client, pong: Game, model: Any, observation: str, message: str
) -> None:
    response = admin_client.post(
        ADD,
        policy_form(pong, observation=observation, model=upload(model(len(pong.action_meanings)))),
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Policy.objects.exists()


def test_it_asks_for_the_model_of_an_onnx_policy(admin_client: Client, pong: Game) -> None:
    response = admin_client.post(ADD, policy_form(pong))

    assert "Upload the ONNX model of this policy." in response.content.decode()
    assert not Policy.objects.exists()


def test_it_saves_a_ram_policy(admin_client: Client, pong: Game) -> None:
    model = linear(len(pong.action_meanings), [1, 128])
    response = admin_client.post(ADD, policy_form(pong, observation="ram", model=upload(model)))

    assert response.status_code == 302
    assert Policy.objects.get().observation == "ram"


def test_it_saves_built_in_policies_without_a_model(admin_client: Client, pong: Game) -> None:
    for kind in ("random", "pong-tracker"):
        response = admin_client.post(ADD, policy_form(pong, name=kind, kind=kind, observation=""))
        assert response.status_code == 302, response.content.decode()[:2000]
    tracker = policy_build(Policy.objects.get(kind="pong-tracker"), seat=0)
    assert tracker.every_k == 4


def test_it_refuses_the_pong_tracker_for_another_game(admin_client: Client, make_game: Any) -> None:
    breakout = make_game("breakout")
    response = admin_client.post(
        ADD, policy_form(breakout, kind="pong-tracker", observation="", name="Tracker")
    )

    assert "the Pong tracker plays Pong" in response.content.decode()
    assert not Policy.objects.exists()


def test_it_refuses_a_ram_policy_for_a_game_without_ram(admin_client: Client, hanoi: Game) -> None:
    model = linear(len(hanoi.action_meanings), [1, 128])
    response = admin_client.post(ADD, policy_form(hanoi, observation="ram", model=upload(model)))

    assert "only Atari games have a RAM to observe" in response.content.decode()


def test_it_never_serves_a_model_file_publicly(admin_client: Client, pong: Game) -> None:
    model = linear(len(pong.action_meanings), [1, 128])
    admin_client.post(ADD, policy_form(pong, observation="ram", model=upload(model)))
    path = Policy.objects.get().model.name

    assert Client().get(f"/media/{path}").status_code == 404
