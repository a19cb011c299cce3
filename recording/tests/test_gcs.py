"""Recordings in Google Cloud Storage, through django-storages, against gcp-storage-emulator."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials

from recording import chunkfile, services

from .helpers import record_episode

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

BUCKET = "arcade-recordings"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gcs(settings: Any) -> Iterator[str]:
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "project_id": "arcade-test",
                "credentials": AnonymousCredentials(),
                "querystring_auth": False,
                # url() must name the bucket, or the emulator answers 404
                "custom_endpoint": f"{endpoint}/{BUCKET}",
            },
        },
    }
    try:
        yield endpoint
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous


def test_it_stores_chunks_in_the_bucket_and_reads_them_back(
    gcs: str, alice: Any, pong: Any
) -> None:
    episode, played = record_episode(user=alice, game=pong, steps=80)
    episode.refresh_from_db()
    assert episode.status == "complete", episode.integrity_error
    assert type(default_storage._wrapped).__name__ == "GoogleCloudStorage"  # type: ignore[attr-defined]
    names = sorted(str(chunk.file.name) for chunk in episode.chunks.all())
    assert names == [services.chunk_path(str(episode.pk), i) for i in range(4)]
    previous = None
    frames: list[np.ndarray] = []
    for name in names:
        with default_storage.open(name) as handle:
            _, decoded = chunkfile.decode(handle.read(), previous)
        previous = decoded[-1]
        frames.extend(decoded)
    assert all(np.array_equal(a, b) for a, b in zip(frames, played, strict=True))
    assert services.episode_frame_rgb(episode=episode, number=80).shape == (210, 160, 3)
    with urllib.request.urlopen(default_storage.url(names[0])) as response:
        assert response.read()[:8] == chunkfile.MAGIC
