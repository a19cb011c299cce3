"""Recordings and exports are private: no public media URL reaches them; staff download exports
through the admin, which checks permission (and on Cloud Storage hands out short-lived signed
URLs). The cast: Alice plays, Bob has an account, Charlie is staff without export rights, Root
is a superuser."""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from google.auth import crypt
from google.auth.credentials import AnonymousCredentials, Signing

from exports.models import AdminExport
from recording.tests.test_gcs import BUCKET, gcs  # noqa: F401  the emulator fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root(db: Any) -> Any:
    from accounts.models import User

    return User.objects.create_superuser("root@example.org", "root-password-1")


@pytest.fixture
def charlie(db: Any) -> Any:
    from accounts.models import User

    return User.objects.create_user("charlie@example.org", "charlie-password-1", is_staff=True)


def logged_in(user: Any | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def export_from_the_admin(root: Any, episode: Any, format: str = "parquet") -> AdminExport:
    response = logged_in(root).post(
        reverse("admin:recording_episode_changelist"),
        {"action": f"export_{format}", "_selected_action": [str(episode.pk)], "apply": "1"},
    )
    assert response.status_code == 302
    return AdminExport.objects.get()


def test_it_serves_no_recording_chunk_under_media(
    alice: Any, bob: Any, root: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=20)
    chunk = episode.chunks.order_by("index").first()
    assert default_storage.exists(chunk.file.name)  # it is there, just not public
    for user in (None, alice, bob, root):
        response = logged_in(user).get(f"/media/{chunk.file.name}")
        assert response.status_code == 404, user


def test_the_episode_page_names_its_chunks_without_linking_them(
    alice: Any, root: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=20)
    page = logged_in(root).get(reverse("admin:recording_episode_change", args=[episode.pk]))
    html = page.content.decode()
    name = episode.chunks.order_by("index").first().file.name
    assert name in html
    assert f'href="/media/{name}"' not in html and "/media/episodes/" not in html


def test_it_serves_no_export_under_media_even_by_climbing_out_of_thumbnails(
    alice: Any, root: Any, pong: Any, recorded: Any
) -> None:
    export = export_from_the_admin(root, recorded(user=alice, game=pong, steps=20))
    assert default_storage.exists(f"{export.prefix}/README.md")
    for url in (
        f"/media/{export.prefix}/README.md",
        f"/media/thumbnails/../{export.prefix}/README.md",
        f"/media/thumbnails/%2e%2e/{export.prefix}/README.md",
    ):
        for user in (None, alice, root):
            assert logged_in(user).get(url).status_code == 404, (url, user)


def test_it_still_serves_the_games_thumbnails(client: Client, pong: Any) -> None:
    response = client.get(pong.thumbnail.url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")  # type: ignore[attr-defined]


def test_it_shows_the_exports_progress_and_links_its_files(
    alice: Any, root: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=20)
    admin = logged_in(root)
    response = admin.post(
        reverse("admin:recording_episode_changelist"),
        {"action": "export_parquet", "_selected_action": [str(episode.pk)], "apply": "1"},
        follow=True,
    )
    export = AdminExport.objects.get()
    change = reverse("admin:exports_adminexport_change", args=[export.pk])
    assert change in response.content.decode()  # the message links to the export
    assert (export.status, export.episodes_done, export.episodes_total) == ("done", 1, 1)
    page = admin.get(reverse("admin:exports_adminexport_changelist")).content.decode()
    assert '<progress max="100" value="100"></progress> 1 of 1 episode<' in page
    files_url = reverse("admin:exports_adminexport_files", args=[export.pk])
    assert files_url in page
    listing = admin.get(files_url).content.decode()
    readme = reverse("admin:exports_adminexport_file", args=[export.pk, "README.md"])
    parts = reverse("admin:exports_adminexport_file", args=[export.pk, "steps/part-00000.parquet"])
    assert readme in listing and parts in listing
    download = admin.get(readme)
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    with default_storage.open(f"{export.prefix}/README.md", "rb") as stored:
        assert b"".join(download.streaming_content) == stored.read()  # type: ignore[attr-defined]


def test_it_shows_a_queued_export_without_a_link(root: Any, alice: Any, pong: Any) -> None:
    export = AdminExport.objects.create(
        format="parquet", prefix="exports/admin/x", episodes_total=4, episodes_done=1
    )
    page = logged_in(root).get(reverse("admin:exports_adminexport_changelist")).content.decode()
    assert '<progress max="100" value="25"></progress> 1 of 4 episodes' in page
    assert reverse("admin:exports_adminexport_files", args=[export.pk]) not in page


def test_it_refuses_export_files_to_anonymous_players_and_staff_without_permission(
    alice: Any, bob: Any, charlie: Any, root: Any, pong: Any, recorded: Any
) -> None:
    export = export_from_the_admin(root, recorded(user=alice, game=pong, steps=20))
    urls = [
        reverse("admin:exports_adminexport_files", args=[export.pk]),
        reverse("admin:exports_adminexport_file", args=[export.pk, "README.md"]),
    ]
    for url in urls:
        for user in (None, alice, bob):  # not staff: the admin's login page
            response = logged_in(user).get(url)
            assert response.status_code == 302, (url, user)
            assert response["Location"].startswith(reverse("admin:login"))
        assert logged_in(charlie).get(url).status_code == 403
    from django.contrib.auth.models import Permission

    charlie.user_permissions.add(Permission.objects.get(codename="view_adminexport"))
    assert logged_in(charlie).get(urls[1]).status_code == 200


def test_it_refuses_a_file_the_export_does_not_hold(
    alice: Any, root: Any, pong: Any, recorded: Any
) -> None:
    episode = recorded(user=alice, game=pong, steps=20)
    export = export_from_the_admin(root, episode)
    chunk = episode.chunks.first()
    for path in (f"../../../{chunk.file.name}", "nothing.txt"):
        url = reverse("admin:exports_adminexport_file", args=[export.pk, path])
        assert logged_in(root).get(url).status_code == 404


class SigningCredentials(AnonymousCredentials, Signing):
    """Signs URLs offline with a private key of its own, as a service account key does in
    production; asks the emulator for nothing else (it takes anonymous requests)."""

    def __init__(self) -> None:
        super().__init__()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._signer = crypt.RSASigner.from_string(pem)

    def sign_bytes(self, message: bytes) -> bytes:
        return bytes(self._signer.sign(message))

    @property
    def signer_email(self) -> str:
        return "arcade-web@arcade-test.iam.gserviceaccount.com"

    @property
    def signer(self) -> crypt.Signer:
        return self._signer


def test_it_hands_staff_a_short_lived_signed_url_on_cloud_storage(
    gcs: str,  # noqa: F811
    settings: Any,
    alice: Any,
    root: Any,
    pong: Any,
    recorded: Any,
) -> None:
    options = settings.STORAGES["default"]["OPTIONS"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **settings.STORAGES["default"],
            "OPTIONS": {**options, "querystring_auth": True, "credentials": SigningCredentials()},
        },
    }
    settings.ARCADE = {**settings.ARCADE, "DOWNLOAD_URL_SECONDS": 120}
    export = export_from_the_admin(root, recorded(user=alice, game=pong, steps=20))
    url = reverse("admin:exports_adminexport_file", args=[export.pk, "README.md"])
    assert logged_in(alice).get(url).status_code == 302
    assert not logged_in(alice).get(url)["Location"].startswith(gcs)
    response = logged_in(root).get(url)
    assert response.status_code == 302
    signed = response["Location"]
    assert signed.startswith(f"{gcs}/{BUCKET}/{export.prefix}/README.md?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(signed).query)
    assert query["X-Goog-Expires"] == ["120"]
    assert query["X-Goog-Signature"][0]
    with urllib.request.urlopen(signed) as remote:
        body = remote.read()
    with default_storage.open(f"{export.prefix}/README.md", "rb") as stored:
        assert body == stored.read()
