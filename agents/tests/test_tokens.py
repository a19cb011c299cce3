"""API tokens: made on the account page (and by staff), shown once, stored hashed, revoked."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.test import Client

from agents import services
from agents.models import ApiToken

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_token_is_shown_once_and_stored_only_as_its_digest(alice: Any) -> None:
    client = signed_in(alice)
    page = client.post("/account/tokens/", {"name": "DQN on the cluster"}).content.decode()
    raw = re.search(r'<code id="new-token">([^<]+)</code>', page)
    assert raw is not None
    token = ApiToken.objects.get(user=alice)
    assert raw.group(1).startswith(f"arc_{token.prefix}_")
    assert token.digest == services.digest(raw.group(1)) and raw.group(1) not in token.digest
    again = client.get("/account/tokens/").content.decode()
    assert raw.group(1) not in again and "DQN on the cluster" in again
    assert services.find(raw.group(1)) == token


def test_a_wrong_or_revoked_token_opens_nothing(alice: Any, bob: Any) -> None:
    token, raw = services.issue(alice, "eval")
    assert services.find(raw) == token
    for wrong in ("", "arc_", raw[:-1] + ("x" if raw[-1] != "x" else "y"), "x" * 10_000):
        assert services.find(wrong) is None
    # Someone else cannot revoke it; its owner can, once.
    assert signed_in(bob).post(f"/account/tokens/{token.prefix}/revoke/").status_code == 404
    assert signed_in(alice).post(f"/account/tokens/{token.prefix}/revoke/").status_code == 302
    assert services.find(raw) is None
    assert not services.revoke(token)  # already


def test_a_token_needs_a_name_and_an_account(alice: Any) -> None:
    assert Client().get("/account/tokens/").status_code == 302  # to the login page
    refused = signed_in(alice).post("/account/tokens/", {"name": "  "})
    assert refused.status_code == 400 and b"Name the token" in refused.content
    assert not ApiToken.objects.exists()


def test_a_token_travels_in_a_header_never_in_the_url() -> None:
    raw = "arc_0011aabb_secret"
    assert services.from_headers({"authorization": f"Bearer {raw}"}) == raw
    basic = base64.b64encode(f"agent:{raw}".encode()).decode()  # a URL's user:token@
    assert services.from_headers({"authorization": f"Basic {basic}"}) == raw
    assert services.from_headers({"x-arcade-token": raw}) == raw
    assert services.from_headers({"authorization": "Basic not-base64!"}) == ""
    assert services.from_headers({}) == ""


def test_staff_make_a_token_for_a_user_in_the_admin_and_see_it_once(
    admin_client: Client, alice: Any
) -> None:
    answer = admin_client.post(
        "/admin/agents/apitoken/add/",
        {"user": alice.pk, "name": "arena bot", "max_sessions": 4,
         "max_steps_per_second": 1000, "idle_seconds": 60},
        follow=True,
    )  # fmt: skip
    text = answer.content.decode()
    raw = re.search(r"(arc_[0-9a-f]{8}_[A-Za-z0-9_\-]+)", text)
    assert raw is not None and "not shown again" in text
    token = services.find(raw.group(1))
    assert token is not None and token.user == alice and token.max_sessions == 4
    assert ApiToken.objects.count() == 1
