"""export_dataset: the filters, incrementality, determinism, and what it tells the operator."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from exports.management.commands.export_dataset import Command as ExportCommand
from exports.models import ExportedEpisode
from exports.services import (
    EpisodeQuery,
    ExportError,
    dataset_export,
    episodes_for_export,
    user_pseudonym,
)
from recording import services
from recording.models import Episode
from recording.tests.helpers import died_mid_play

pytestmark = pytest.mark.django_db(transaction=True)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def cast(alice: Any, bob: Any, sam: Any, tess: Any, pong: Any, hanoi: Any, recorded: Any) -> Any:
    """Alice: a long Pong game, verified, and a Hanoi game not verified yet; Bob: a short, old
    Pong game with a high return whose replay differs; Sam (staff) and Tess (test account): one
    Pong game each; one incomplete."""
    long_ago = timezone.now() - timedelta(days=30)
    episodes = {
        "alice_pong": recorded(user=alice, game=pong, steps=60, verification="verified"),
        "alice_hanoi": recorded(user=alice, game=hanoi, steps=10, verification="pending"),
        "bob_pong": recorded(
            user=bob,
            game=pong,
            steps=30,
            started_at=long_ago,
            total_return=5.0,
            verification="mismatch",
        ),
        "sam_pong": recorded(user=sam, game=pong, steps=30),
        "tess_pong": recorded(user=tess, game=pong, steps=30),
        "broken": recorded(user=bob, game=pong, steps=30, status="incomplete"),
    }
    return episodes


def found(cast: Any, **filters: Any) -> set[str]:
    names = {episode.pk: name for name, episode in cast.items()}
    return {names[e.pk] for e in episodes_for_export(EpisodeQuery(**filters))}


def test_it_leaves_out_staff_test_accounts_and_incomplete_episodes_by_default(cast: Any) -> None:
    assert found(cast) == {"alice_pong", "alice_hanoi", "bob_pong"}


def test_it_filters_by_each_criterion(cast: Any) -> None:
    today = timezone.now().date()
    assert found(cast, games=("tower-of-hanoi",)) == {"alice_hanoi"}
    assert found(cast, since=today) == {"alice_pong", "alice_hanoi"}
    assert found(cast, until=today - timedelta(days=1)) == {"bob_pong"}
    assert found(cast, since=date(2000, 1, 1), until=today) == {
        "alice_pong",
        "alice_hanoi",
        "bob_pong",
    }
    assert found(cast, statuses=("incomplete",)) == {"broken"}
    assert found(cast, min_steps=31) == {"alice_pong"}
    assert found(cast, min_return=1.0) == {"bob_pong"}
    assert found(cast, verified_only=True) == {"alice_pong"}
    assert "sam_pong" in found(cast, include_staff=True)
    assert "tess_pong" in found(cast, include_test_accounts=True)


def test_it_exports_only_new_episodes_on_a_second_run(
    cast: Any, tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    first = dataset_export(query=EpisodeQuery(games=("pong",)), destination=str(tmp_path))
    assert (first.matched, first.exported) == (2, 2)
    again = dataset_export(query=EpisodeQuery(games=("pong",)), destination=str(tmp_path))
    assert (again.matched, again.already, again.exported) == (2, 2, 0)
    recorded(user=alice, game=pong, steps=25)
    third = dataset_export(query=EpisodeQuery(games=("pong",)), destination=str(tmp_path))
    assert (third.matched, third.already, third.exported) == (3, 2, 1)
    assert ExportedEpisode.objects.filter(destination=first.destination).count() == 3


@pytest.mark.parametrize("format", ["minari", "parquet"])
def test_it_writes_byte_identical_files_for_the_same_query(
    cast: Any, tmp_path: Path, format: str
) -> None:
    for name in ("one", "two"):
        dataset_export(query=EpisodeQuery(), destination=str(tmp_path / name), format=format)
    one, two = digests(tmp_path / "one"), digests(tmp_path / "two")
    assert one and one == two


def test_it_counts_without_writing_on_a_dry_run(cast: Any, tmp_path: Path) -> None:
    summary = dataset_export(query=EpisodeQuery(), destination=str(tmp_path / "d"), dry_run=True)
    assert (summary.exported, summary.steps) == (3, 100)
    assert not (tmp_path / "d").exists()
    assert not ExportedEpisode.objects.exists()


def test_it_refuses_a_second_kind_of_dataset_in_one_destination(cast: Any, tmp_path: Path) -> None:
    dataset_export(query=EpisodeQuery(games=("pong",)), destination=str(tmp_path))
    with pytest.raises(ExportError, match="same --format and --observation"):
        dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")


def test_it_refuses_atari_observations_of_a_non_atari_game(cast: Any, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"tower-of-hanoi: .*--game"):
        dataset_export(query=EpisodeQuery(), destination=str(tmp_path), observation="ram")


def test_it_keys_pseudonyms_by_the_secret_setting(settings: Any, alice: Any) -> None:
    before = user_pseudonym(alice.pk)
    assert len(before) == 64 and before == user_pseudonym(alice.pk)
    settings.PSEUDONYM_KEY = "another key"
    assert user_pseudonym(alice.pk) != before


def test_the_command_shows_progress_and_a_summary(cast: Any, tmp_path: Path) -> None:
    out, err = StringIO(), StringIO()
    call_command(
        "export_dataset",
        destination=str(tmp_path),
        format="parquet",
        observation="grayscale",
        game=["pong"],
        min_steps=1,
        stdout=out,
        stderr=err,
    )
    assert "2 episodes match; 0 already in folder:" in out.getvalue()
    assert "exported 2 episodes, 90 steps, 92 observations as parquet (grayscale)" in (
        out.getvalue()
    )
    assert "100%|" in err.getvalue() and "90.0/90.0" in err.getvalue()  # tqdm's bar
    again = StringIO()
    call_command(
        "export_dataset",
        destination=str(tmp_path),
        format="parquet",
        observation="grayscale",
        game=["pong"],
        stdout=again,
        stderr=StringIO(),
    )
    assert "2 episodes match; 2 already in" in again.getvalue()
    assert "exported 0 episodes" in again.getvalue()


def test_the_command_says_what_to_fix(cast: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not a date: use YYYY-MM-DD"):
        call_command("export_dataset", f"--destination={tmp_path}", "--since=yesterday")
    with pytest.raises(CommandError, match=r"atari.*Atari"):
        call_command("export_dataset", destination=str(tmp_path), observation="atari")
    assert Episode.objects.count() == 6


def test_a_failed_run_leaves_the_destination_as_it_was(
    cast: Any, tmp_path: Path, alice: Any, pong: Any, recorded: Any
) -> None:
    dataset_export(query=EpisodeQuery(games=("pong",)), destination=str(tmp_path))
    before = digests(tmp_path)
    recorded(user=alice, game=pong, steps=20)
    recorded(user=alice, game=pong, steps=20)
    calls = []

    def failing(progress: int) -> None:
        calls.append(progress)
        if len(calls) == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        dataset_export(
            query=EpisodeQuery(games=("pong",)),
            destination=str(tmp_path),
            progress=lambda episodes, steps: failing,
        )
    assert digests(tmp_path) == before
    assert ExportedEpisode.objects.count() == 2
    again = dataset_export(query=EpisodeQuery(games=("pong",)), destination=str(tmp_path))
    assert (again.already, again.exported) == (2, 2)


def interrupted(user: Any, game: Any) -> Episode:
    """An episode whose web process died after 100 stored steps, ended by the watchdog."""
    episode = died_mid_play(user, game, stored=4)
    services.episodes_reap(silent_for=timedelta(seconds=60))
    episode.refresh_from_db()
    assert (episode.status, episode.end_reason) == ("incomplete", "interrupted")
    return episode


def test_it_exports_an_interrupted_episode_up_to_its_last_stored_step(
    alice: Any, pong: Any, recorded: Any, tmp_path: Path
) -> None:
    episode = interrupted(alice, pong)
    out = StringIO()

    call_command(
        "export_dataset",
        destination=str(tmp_path),
        format="parquet",
        status=["incomplete"],
        stdout=out,
        stderr=StringIO(),
    )

    assert "exported 1 episodes, 99 steps, 100 observations" in out.getvalue()
    steps = pd.read_parquet(tmp_path / "steps").sort_values("step")
    assert steps.step.tolist() == list(range(99))
    assert steps.truncated.tolist() == [False] * 98 + [True]
    row = pd.read_parquet(tmp_path / "episodes").iloc[0]
    assert (row.end_reason, row.verification, row.recorded_steps) == (
        "interrupted",
        "verified",
        episode.steps,
    )
    assert row.cut_short.startswith("interrupted: the live session was lost after 100 stored")
    assert len(pd.read_parquet(tmp_path / "frames" / "pong")) == 100


def test_the_command_says_how_many_episodes_it_skipped_and_exits_non_zero(
    alice: Any, pong: Any, recorded: Any, tmp_path: Path
) -> None:
    recorded(user=alice, game=pong, steps=30)
    broken = recorded(user=alice, game=pong, steps=30)
    broken.chunks.filter(index=0).delete()  # its first chunk is lost
    out = StringIO()

    with pytest.raises(CommandError, match="1 of 2 episodes were skipped") as raised:
        call_command(
            "export_dataset",
            destination=str(tmp_path),
            format="parquet",
            stdout=out,
            stderr=StringIO(),
        )

    assert raised.value.returncode == 2
    assert "exported 1 episodes" in out.getvalue()
    assert "SKIPPED 1 episodes that could not be read:" in out.getvalue()
    assert f"  skipped {broken.pk}: " in out.getvalue()


def test_the_summary_lists_every_folder_it_wrote(
    alice: Any, pong: Any, hanoi: Any, recorded: Any, tmp_path: Path
) -> None:
    recorded(user=alice, game=pong, steps=20)
    recorded(user=alice, game=hanoi, steps=5)

    summary = dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")

    assert summary.folders == {
        ".": 1,
        "episodes": 1,
        "frames/pong": 1,
        "frames/tower-of-hanoi": 1,
        "steps": 1,
    }
    assert "  wrote frames/tower-of-hanoi/ (1 file)" in summary.lines()
    minari = dataset_export(query=EpisodeQuery(), destination=str(tmp_path / "minari"))
    assert minari.folders["arcade/pong/rgb-v0/data"] == 3  # its metadata, one episode's two
    assert set(minari.folders) == {
        ".",
        "arcade",
        "arcade/pong",
        "arcade/pong/rgb-v0/data",
        "arcade/tower-of-hanoi",
        "arcade/tower-of-hanoi/rgb-v0/data",
    }


def test_the_command_documents_every_option() -> None:
    parser = ExportCommand().create_parser("manage.py", "export_dataset")

    undocumented = [
        action.option_strings for action in parser._actions if not (action.help or "").strip()
    ]

    assert undocumented == []
