"""Scopes: what an app above exports says about the episodes it gave a context to (here a made-up
"arena", so these tests need no study)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from exports import scopes
from exports.services import EpisodeQuery, ExportError, dataset_export, episodes_for_export
from recording.models import Episode

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def arena() -> Iterator[dict[str, Any]]:
    """An "arena" scope: shows its context's players as "someone", withholds what it is told."""
    told: dict[str, Any] = {"withheld": [], "episodes": []}
    registered = dict(scopes._scopes)
    scopes.provide(
        scopes.Scope(
            name="arena",
            episodes=lambda value, part: told["episodes"],
            withheld=lambda: told["withheld"],
            context=lambda c: {"arena": c["arena"], "players": ["someone"] * len(c["players"])},
            fields=(("players", "list<string>", "who played, hidden"),),
        )
    )
    yield told
    scopes._scopes.clear()
    scopes._scopes.update(registered)


def with_context(episode: Episode, context: dict[str, Any]) -> Episode:
    Episode.objects.filter(pk=episode.pk).update(context=context)
    episode.refresh_from_db()
    return episode


def exported_contexts(root: Path) -> dict[str, dict[str, Any]]:
    episodes = pd.read_parquet(root / "episodes")
    return {row.episode: json.loads(row.context) for row in episodes.itertuples()}


def test_it_shows_a_context_as_its_scope_does_and_describes_it_in_the_card(
    arena: dict[str, Any], tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = with_context(
        recorded(user=alice, game=pong, steps=20), {"arena": "cup", "players": [alice.pk]}
    )
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")
    assert exported_contexts(tmp_path) == {
        str(episode.pk): {"arena": "cup", "players": ["someone"]}
    }
    assert (
        "| `players` | list<string> | who played, hidden |" in (tmp_path / "README.md").read_text()
    )


def test_it_leaves_out_a_context_no_scope_claims(
    tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = with_context(
        recorded(user=alice, game=pong, steps=20), {"tournament": "cup", "players": [alice.pk]}
    )
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")
    assert exported_contexts(tmp_path) == {str(episode.pk): {}}
    assert "What an episode was played for" not in (tmp_path / "README.md").read_text()


def test_withheld_episodes_leave_every_query_and_within_keeps_only_the_scopes(
    arena: dict[str, Any], alice: Any, bob: Any, pong: Any, recorded: Any
) -> None:
    kept = recorded(user=alice, game=pong, steps=20)
    gone = recorded(user=bob, game=pong, steps=20)
    arena["withheld"] = [gone.pk]
    assert list(episodes_for_export(EpisodeQuery())) == [kept]
    arena["episodes"] = [kept.pk, gone.pk]
    within = EpisodeQuery(within=scopes.Within(scope="arena", value="cup"))
    assert list(episodes_for_export(within)) == [kept]
    arena["episodes"] = []
    assert list(episodes_for_export(within)) == []


def test_within_an_unknown_scope_is_an_export_error(db: Any) -> None:
    with pytest.raises(ExportError, match="no export scope 'league'"):
        list(episodes_for_export(EpisodeQuery(within=scopes.Within("league", "x"))))
