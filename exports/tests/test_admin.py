"""The admin exports selected episodes to storage, and plays any episode back in the browser."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image

from exports.models import AdminExport, ExportedEpisode

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(db: Any) -> Client:
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root@example.org", "root-password-1"))
    return client


def test_it_asks_whose_play_then_exports_the_selected_episodes_and_says_where(
    admin_client: Client, alice: Any, bob: Any, pong: Any, recorded: Any
) -> None:
    chosen = recorded(user=alice, game=pong, steps=20)
    recorded(user=bob, game=pong, steps=20)
    picked = {"action": "export_parquet", "_selected_action": [str(chosen.pk)]}
    form = admin_client.post(reverse("admin:recording_episode_changelist"), picked)
    assert form.status_code == 200 and 'id="export-form"' in form.content.decode()
    assert not AdminExport.objects.exists()  # nothing until the form is sent
    response = admin_client.post(
        reverse("admin:recording_episode_changelist"), {**picked, "apply": "1"}, follow=True
    )
    message = " ".join(str(m) for m in get_messages(response.wsgi_request))
    export = AdminExport.objects.get()
    assert reverse("admin:exports_adminexport_change", args=[export.pk]) in message
    prefix = export.prefix
    assert default_storage.exists(f"{prefix}/README.md")
    assert default_storage.exists(f"{prefix}/steps/part-00000.parquet")
    exported = ExportedEpisode.objects.get()
    assert (exported.episode_id, exported.destination) == (chosen.pk, f"storage:{prefix}")


def test_it_plays_an_episode_back_from_chunk_strips(
    admin_client: Client, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=70)
    page = admin_client.get(reverse("admin:recording_episode_playback", args=[episode.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<canvas id="playback" width="160" height="210"' in html
    assert 'id="play"' in html and 'id="step"' in html and "at 60 fps" in html
    assert page.context["playback"]["frames"] == 71
    chunk = episode.chunks.get(index=1)  # decoded forward from chunk 0
    strip = admin_client.get(
        reverse("admin:recording_episode_strip_png", args=[episode.pk, chunk.index])
    )
    image = np.asarray(Image.open(io.BytesIO(strip.content)).convert("RGB"))
    assert image.shape == (210 * chunk.n_frames, 160, 3)
    from recording.frames import episode_frame_rgb

    second = image[210 : 2 * 210]
    assert np.array_equal(second, episode_frame_rgb(episode=episode, number=chunk.first_frame + 1))
    missing = reverse("admin:recording_episode_strip_png", args=[episode.pk, 99])
    assert admin_client.get(missing).status_code == 404


def test_it_links_playback_from_the_episode_list(
    admin_client: Client, alice: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=10)
    page = admin_client.get(reverse("admin:recording_episode_changelist")).content.decode()
    assert reverse("admin:recording_episode_playback", args=[episode.pk]) in page


def test_only_staff_reach_playback(client: Client, alice: Any, pong: Any, recorded: Any) -> None:
    episode = recorded(user=alice, game=pong, steps=10)
    client.force_login(alice)
    response = client.get(reverse("admin:recording_episode_playback", args=[episode.pk]))
    assert response.status_code == 302


def test_it_lists_what_was_exported_where(
    admin_client: Client, alice: Any, pong: Any, recorded: Any, tmp_path: Any
) -> None:
    from exports.services import EpisodeQuery, dataset_export

    episode = recorded(user=alice, game=pong, steps=10)
    dataset_export(query=EpisodeQuery(), destination=str(tmp_path), format="parquet")
    page = admin_client.get(reverse("admin:exports_exportedepisode_changelist"))
    assert page.status_code == 200
    assert f"folder:{tmp_path}" in page.content.decode()
    assert str(episode) in page.content.decode()
