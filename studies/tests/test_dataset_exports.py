"""export_dataset --study: a study's block episodes, each with its block, participant and
condition in its metadata; never a withdrawn participant's, never a raw id."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import minari
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exports.services import EpisodeQuery, dataset_export, selection
from recording.models import Episode
from recording.tests.helpers import record_episode
from studies.models import Step
from studies.scope import participant_pseudonym
from studies.tests.cast import MAX, PAT, RAW_IDS, WENDY, Walker, join, reflexes

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Played:
    pat: Walker
    max: Walker
    wendy: Walker
    episodes: dict[str, Episode]  # by player: pat, max, wendy, alice (free play)


def play(user: Any, game: Any) -> Episode:
    episode, _ = record_episode(user=user, game=game, steps=30)
    episode.refresh_from_db()
    assert episode.status == Episode.Status.COMPLETE, episode.integrity_error
    return episode


@pytest.fixture
def played(alice: Any, pong: Any, eager_celery: None, redis_flushed: None) -> Played:
    """Pat (fast) and Max (slow) play their block; so does Wendy (fast), who then withdraws;
    Alice plays Pong outside any study."""
    study = reflexes(pong)
    pat, max_, wendy = join(study, PAT), join(study, MAX), join(study, WENDY)
    assert [w.condition for w in (pat, max_, wendy)] == ["fast", "slow", "fast"]
    episodes = {}
    for name, walker in (("pat", pat), ("max", max_), ("wendy", wendy)):
        walker.open_block()
        episodes[name] = play(walker.participant.user, pong)
    episodes["alice"] = play(alice, pong)
    wendy.withdraw()
    return Played(pat, max_, wendy, episodes)


def export(destination: Path, *options: str) -> str:
    out = StringIO()
    call_command("export_dataset", "--destination", str(destination), *options, stdout=out)
    return out.getvalue()


def contexts(root: Path) -> dict[str, dict[str, Any]]:
    episodes = pd.read_parquet(root / "episodes")
    return {row.episode: json.loads(row.context) for row in episodes.itertuples()}


def test_a_study_export_holds_its_participants_block_episodes_with_their_block(
    played: Played, tmp_path: Path
) -> None:
    export(tmp_path, "--study", "reflexes", "--format", "parquet")
    found = contexts(tmp_path)
    pat_episode, max_episode = played.episodes["pat"], played.episodes["max"]
    assert set(found) == {str(pat_episode.pk), str(max_episode.pk)}
    fast = Step.objects.get(title="Pong, fast")
    assert found[str(pat_episode.pk)] == {
        "study": "reflexes",
        "study_version": 1,
        "step": fast.pk,
        "block": "Pong, fast",
        "participants": [participant_pseudonym(played.pat.participant.pk)],
        "positions": [2],
        "conditions": ["fast"],
    }
    assert found[str(max_episode.pk)]["conditions"] == ["slow"]
    card = (tmp_path / "README.md").read_text()
    assert "## What an episode was played for" in card and "`participants`" in card


def test_a_condition_narrows_it_to_that_conditions_participants(
    played: Played, tmp_path: Path
) -> None:
    export(tmp_path, "--study", "reflexes", "--condition", "fast", "--format", "parquet")
    # Wendy is in "fast" too, but withdrew.
    assert set(contexts(tmp_path)) == {str(played.episodes["pat"].pk)}


def test_a_study_export_loads_in_minari_with_the_block_in_each_episodes_metadata(
    played: Played, tmp_path: Path
) -> None:
    export(tmp_path, "--study", "reflexes", "--observation", "indices")
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(tmp_path)
    try:
        dataset = minari.load_dataset("arcade/pong/indices-v0")
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous
    assert dataset.total_episodes == 2
    metadata = list(dataset.storage.get_episode_metadata([0, 1]))
    by_episode = {m["arcade_episode"]: m["context"] for m in metadata}
    pat = by_episode[str(played.episodes["pat"].pk)]
    assert pat["participants"] == [participant_pseudonym(played.pat.participant.pk)]
    assert (pat["conditions"], pat["block"]) == (["fast"], "Pong, fast")
    assert by_episode[str(played.episodes["max"].pk)]["block"] == "Pong, slow"


def test_a_withdrawn_participants_episodes_leave_every_export(
    played: Played, tmp_path: Path
) -> None:
    export(tmp_path / "all", "--format", "parquet")
    everyone = contexts(tmp_path / "all")
    wendy, alice = str(played.episodes["wendy"].pk), str(played.episodes["alice"].pk)
    assert wendy not in everyone and alice in everyone and len(everyone) == 3
    assert everyone[alice] == {}  # free play: no context
    # Not even when an admin picks it.
    picked = dataset_export(
        query=selection([wendy, alice]), destination=str(tmp_path / "picked"), format="parquet"
    )
    assert picked.matched == 1 and set(contexts(tmp_path / "picked")) == {alice}


def test_a_later_run_says_when_a_participant_withdrew_after_their_episodes_were_exported(
    played: Played, tmp_path: Path
) -> None:
    assert "WITHHELD" not in export(tmp_path, "--study", "reflexes", "--format", "parquet")
    played.pat.withdraw()
    again = export(tmp_path, "--study", "reflexes", "--format", "parquet")
    assert "1 episodes match; 1 already in" in again
    assert "WITHHELD since exported: 1 episodes in" in again and "new destination" in again


def test_no_raw_id_or_participant_id_is_in_the_files(played: Played, tmp_path: Path) -> None:
    export(tmp_path / "minari", "--study", "reflexes")
    export(tmp_path / "parquet", "--study", "reflexes", "--format", "parquet")
    secrets = [*RAW_IDS, "participants.invalid"] + [
        str(w.participant.pk) for w in (played.pat, played.max, played.wendy)
    ]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 5
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, (path, secret)


def test_an_unknown_study_or_condition_is_refused_with_what_to_do(
    played: Played, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="there is no study 'reflex'"):
        export(tmp_path, "--study", "reflex")
    with pytest.raises(CommandError, match=r"no condition 'quick'.*'fast', 'slow'"):
        export(tmp_path, "--study", "reflexes", "--condition", "quick")
    with pytest.raises(CommandError, match="--condition needs --study"):
        export(tmp_path, "--condition", "fast")
    assert EpisodeQuery().within is None  # the default export is not limited to a study
