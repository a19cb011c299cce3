"""Who played: exports filtered by the kinds of player at the seats and by the program, the
card saying which, and every seat's holder named in the data.

The cast: Alice plays Pong herself; Bob's program ``dqn`` plays it at versions 1 and 2;
Alice's program ``ppo`` (no version given) plays it; the Tracker (an AI policy) plays it
alone; and Alice plays two-player Pong against Bob's ``dqn`` version 2.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from agents.scope import agent_context
from exports.models import AdminExport
from exports.players import AgentName, NotAFilter, PlayedBy
from exports.services import (
    EpisodeQuery,
    ExportError,
    dataset_export,
    episodes_for_export,
    user_pseudonym,
)
from exports.tests.test_minari import load
from games.models import Policy
from recording.models import Episode, EpisodeSeat
from recording.services import SeatHolder
from recording.tests.helpers import pong_for_two, record_multi_seat_episode

pytestmark = pytest.mark.django_db(transaction=True)

TWO_PLAYER_STEPS = 20


def program(episode: Episode, *, name: str, version: str) -> Episode:
    """The episode as the agent API records it: its seat held by a program, named in its
    context (a two-seat episode is given its agent seat when it starts)."""
    if not episode.is_multi_seat:
        EpisodeSeat.objects.filter(episode=episode).update(kind=EpisodeSeat.Kind.AGENT)
    context = agent_context(name=name, version=version, token_prefix="arc_4f2a")
    Episode.objects.filter(pk=episode.pk).update(context=context)
    episode.refresh_from_db()
    return episode


def by_the_tracker(episode: Episode) -> Episode:
    tracker = Policy.objects.create(game=episode.game, name="Tracker", kind="pong-tracker")
    EpisodeSeat.objects.filter(episode=episode).update(
        kind=EpisodeSeat.Kind.POLICY, user=None, policy=tracker
    )
    return episode


@pytest.fixture
def cast(alice: Any, bob: Any, pong: Any, recorded: Any) -> dict[str, Episode]:
    against = record_multi_seat_episode(
        game=pong_for_two(),
        seats=[
            SeatHolder(index=0, kind="human", user=alice),
            SeatHolder(index=1, kind="agent", user=bob),
        ],
        steps=TWO_PLAYER_STEPS,
    ).episode
    return {
        "alice": recorded(user=alice, game=pong, steps=10),
        "dqn_1": program(recorded(user=bob, game=pong, steps=10), name="dqn", version="1"),
        "dqn_2": program(recorded(user=bob, game=pong, steps=10), name="dqn", version="2"),
        "ppo": program(recorded(user=alice, game=pong, steps=10), name="ppo", version=""),
        "tracker": by_the_tracker(recorded(user=bob, game=pong, steps=10)),
        "alice_vs_dqn": program(against, name="dqn", version="2"),
    }


def found(
    cast: dict[str, Episode], *, kinds: tuple[str, ...] = (), agents: tuple[str, ...] = ()
) -> set[str]:
    names = {episode.pk: name for name, episode in cast.items()}
    query = EpisodeQuery(statuses=(), played_by=PlayedBy.parse(kinds=kinds, agents=agents))
    return {names[e.pk] for e in episodes_for_export(query)}


def test_it_keeps_only_episodes_every_seat_of_which_the_chosen_kinds_held(
    cast: dict[str, Episode],
) -> None:
    assert found(cast, kinds=("humans",)) == {"alice"}
    assert found(cast, kinds=("agents",)) == {"dqn_1", "dqn_2", "ppo"}
    assert found(cast, kinds=("policies",)) == {"tracker"}
    assert found(cast, kinds=("humans,agents",)) == {
        "alice",
        "dqn_1",
        "dqn_2",
        "ppo",
        "alice_vs_dqn",
    }
    assert found(cast, kinds=("humans", "policies")) == {"alice", "tracker"}
    assert found(cast) == set(cast)


def test_it_keeps_the_episodes_of_a_named_program_of_any_or_one_version(
    cast: dict[str, Episode],
) -> None:
    assert found(cast, agents=("dqn",)) == {"dqn_1", "dqn_2", "alice_vs_dqn"}
    assert found(cast, agents=("dqn@2",)) == {"dqn_2", "alice_vs_dqn"}
    assert found(cast, agents=("dqn@1", "ppo")) == {"dqn_1", "ppo"}
    assert found(cast, kinds=("agents",), agents=("dqn",)) == {"dqn_1", "dqn_2"}
    assert found(cast, kinds=("humans", "agents"), agents=("dqn@2",)) == {"dqn_2", "alice_vs_dqn"}


def test_a_filter_is_stored_as_it_is_read_back() -> None:
    played_by = PlayedBy.parse(kinds=["agents, Humans"], agents=["team@lab/dqn@2", "ppo"])

    assert played_by.kinds == ("human", "agent")
    assert played_by.agents == (AgentName("ppo"), AgentName("team@lab/dqn", "2"))
    assert played_by.as_json() == {
        "kinds": ["human", "agent"],
        "agents": [{"name": "ppo", "version": None}, {"name": "team@lab/dqn", "version": "2"}],
    }
    assert PlayedBy.from_json(played_by.as_json()) == played_by
    assert PlayedBy.from_json({}) == PlayedBy() and PlayedBy().as_json() == {}


@pytest.mark.parametrize(
    ("kinds", "agents", "says"),
    [
        (["robots"], [], "no players called 'robots': write humans, agents or policies"),
        (["vacant"], [], "vacant seats never count"),
        ([], ["@2"], "has no name: write NAME or NAME@VERSION"),
        ([], ["dqn@"], "has an @ but no version"),
        ([], ["d" * 101], "at most 100 characters"),
        (["humans"], ["dqn"], "leave programs out: add agents to them"),
    ],
)
def test_a_filter_it_cannot_read_says_what_to_write(
    kinds: list[str], agents: list[str], says: str
) -> None:
    with pytest.raises(NotAFilter, match=says):
        PlayedBy.parse(kinds=kinds, agents=agents)


def test_the_command_exports_the_chosen_players_and_says_so(
    cast: dict[str, Episode], tmp_path: Path, alice: Any, bob: Any
) -> None:
    out = StringIO()
    call_command(
        "export_dataset",
        destination=str(tmp_path),
        format="parquet",
        played_by=["humans,agents"],
        agent=["dqn@2"],
        stdout=out,
        stderr=StringIO(),
    )

    assert "played by humans,agents: every seat held by people or programs" in out.getvalue()
    episodes = pd.read_parquet(tmp_path / "episodes").set_index("episode")
    assert set(episodes.index) == {str(cast["dqn_2"].pk), str(cast["alice_vs_dqn"].pk)}
    alone = episodes.loc[str(cast["dqn_2"].pk)]
    assert alone.played_by == "agent"
    assert json.loads(alone.context) == {"agent": "dqn", "agent_version": "2"}  # no token
    assert json.loads(alone.seats) == [
        {
            "seat": 0,
            "from_step": 0,
            "role": "",
            "kind": "agent",
            "holder": f"agent:{user_pseudonym(bob.pk)}",
            "agent": "dqn",
            "agent_version": "2",
        }
    ]
    both = episodes.loc[str(cast["alice_vs_dqn"].pk)]
    assert both.played_by == "human+agent"
    assert [(s["kind"], s["holder"], s["agent"]) for s in json.loads(both.seats)] == [
        ("human", f"user:{user_pseudonym(alice.pk)}", None),
        ("agent", f"agent:{user_pseudonym(bob.pk)}", "dqn"),
    ]


def test_a_programs_seat_is_named_as_a_program_at_every_step(
    cast: dict[str, Episode], tmp_path: Path, alice: Any, bob: Any
) -> None:
    against = cast["alice_vs_dqn"]
    dataset_export(
        query=EpisodeQuery(episodes=(str(against.pk),)),
        destination=str(tmp_path / "parquet"),
        format="parquet",
        observation="indices",
    )
    dataset_export(
        query=EpisodeQuery(episodes=(str(against.pk),)),
        destination=str(tmp_path / "minari"),
        observation="indices",
    )

    holders = [f"user:{user_pseudonym(alice.pk)}", f"agent:{user_pseudonym(bob.pk)}"]
    steps = pd.read_parquet(tmp_path / "parquet" / "steps")
    assert [list(h) for h in steps.seat_holders] == [holders] * TWO_PLAYER_STEPS
    dataset = load(tmp_path / "minari", "arcade/pong-for-two/seat-1/indices-v0")
    assert next(dataset.iterate_episodes()).infos["holder"].tolist()[1:] == (
        [holders[1]] * TWO_PLAYER_STEPS
    )
    (metadata,) = dataset.storage.get_episode_metadata([0])
    assert metadata["played_by"] == "human+agent"
    assert [(s["kind"], s["agent"], s["agent_version"]) for s in metadata["seats"]] == [
        ("human", None, None),
        ("agent", "dqn", "2"),
    ]


def test_the_card_states_the_filter_who_played_and_which_programs(
    cast: dict[str, Episode], tmp_path: Path
) -> None:
    call_command(
        "export_dataset",
        destination=str(tmp_path),
        played_by=["humans", "agents"],
        stdout=StringIO(),
        stderr=StringIO(),
    )

    card = (tmp_path / "README.md").read_text()
    assert card.startswith("# Arcade play dataset")
    assert "Exported for: humans,agents: every seat held by people or programs" in card
    assert "| `human` | people | 1 |" in card
    assert "| `agent` | programs (agent API) | 3 |" in card
    assert "| `human+agent` | people and programs (agent API) | 1 |" in card
    assert "| `policy` |" not in card  # the Tracker played alone: not chosen
    assert "| `dqn` | `1` | 1 |" in card and "| `dqn` | `2` | 2 |" in card
    assert "| `ppo` | (none given) | 1 |" in card


def test_the_card_of_pure_human_play_says_so(cast: dict[str, Episode], tmp_path: Path) -> None:
    call_command(
        "export_dataset",
        destination=str(tmp_path),
        played_by=["humans"],
        stdout=StringIO(),
        stderr=StringIO(),
    )

    card = (tmp_path / "README.md").read_text()
    assert card.startswith("# Arcade human-play dataset")
    assert "Episodes played on Arcade by people in the browser," in card
    assert "Exported for: humans: every seat held by people." in card
    assert "Programs, by the name" not in card


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"played_by": ["humans,robots"]}, "no players called 'robots'"),
        ({"agent": ["dqn@"]}, "has an @ but no version"),
        ({"played_by": ["policies"], "agent": ["dqn"]}, "leave programs out"),
        (
            {"agent": ["dqm"]},
            r"no agent called 'dqm' has played \(agents that have: 'dqn', 'ppo'\)",
        ),
        ({"agent": ["dqn@3"]}, r"agent 'dqn' has played no version '3' \(its versions: '1', '2'\)"),
    ],
)
def test_the_command_says_what_to_fix_in_a_filter(
    cast: dict[str, Episode], tmp_path: Path, options: dict[str, Any], says: str
) -> None:
    with pytest.raises(CommandError, match=says):
        call_command("export_dataset", destination=str(tmp_path), stdout=StringIO(), **options)
    assert not tmp_path.joinpath("README.md").exists()


def test_a_destination_takes_no_episodes_chosen_by_another_filter(
    cast: dict[str, Episode], tmp_path: Path
) -> None:
    humans = PlayedBy.parse(kinds=["humans"])
    dataset_export(query=EpisodeQuery(played_by=humans), destination=str(tmp_path))
    assert dataset_export(query=EpisodeQuery(played_by=humans), destination=str(tmp_path)).already

    with pytest.raises(
        ExportError, match=r"export there with the same filter \(--played-by humans\)"
    ):
        dataset_export(query=EpisodeQuery(), destination=str(tmp_path))


# --- the admin's exports ----------------------------------------------------------------------


@pytest.fixture
def root_client(db: Any) -> Client:
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    return client


def export_in_the_admin(client: Client, episodes: list[Episode], **form: Any) -> Any:
    return client.post(
        reverse("admin:recording_episode_changelist"),
        {
            "action": "export_parquet",
            "_selected_action": [str(e.pk) for e in episodes],
            "apply": "1",
            **form,
        },
        follow=True,
    )


def test_the_admin_exports_the_selections_chosen_players_and_keeps_the_filter(
    cast: dict[str, Episode], root_client: Client
) -> None:
    response = export_in_the_admin(
        root_client, list(cast.values()), played_by=["agents"], agents="dqn\n"
    )

    export = AdminExport.objects.get()
    assert export.played_by == {"kinds": ["agent"], "agents": [{"name": "dqn", "version": None}]}
    assert (export.status, export.episodes_total, export.episodes_done) == ("done", 2, 2)
    assert "Exporting 2 episodes of 6, played by agents" in response.content.decode()
    change = root_client.get(reverse("admin:exports_adminexport_change", args=[export.pk]))
    assert "agents: every seat held by programs (agent API)" in change.content.decode()
    with default_storage.open(f"{export.prefix}/README.md") as readme:
        assert b"| `agent` | programs (agent API) | 2 |" in readme.read()


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"played_by": ["robots"]}, "Select a valid choice. robots is not one of the available"),
        ({"agents": "@2"}, "agent &#x27;@2&#x27; has no name"),
        ({"agents": "dqm"}, "no agent called &#x27;dqm&#x27; has played"),
        ({"played_by": ["policies"], "agents": "ppo"}, "leave programs out"),
        ({"played_by": ["humans"]}, "none of the 1 selected episodes was played by humans"),
    ],
)
def test_the_admins_export_form_says_what_to_fix(
    cast: dict[str, Episode], root_client: Client, form: dict[str, Any], says: str
) -> None:
    response = export_in_the_admin(root_client, [cast["dqn_1"]], **form)

    assert response.status_code == 200 and says in response.content.decode()
    assert not AdminExport.objects.exists()
