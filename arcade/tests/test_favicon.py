"""The site's icon: linked from every page, the admin's too, and found at /favicon.ico."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ICON_LINK = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'


def test_it_sends_a_browser_asking_for_favicon_ico_to_the_sites_icon(client: Client) -> None:
    response = client.get("/favicon.ico")

    assert (response.status_code, response["Location"]) == (302, "/static/favicon.svg")
    icon = client.get(response["Location"])
    assert (icon.status_code, icon["Content-Type"]) == (200, "image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)  # type: ignore[attr-defined]


def test_it_links_the_icon_from_the_sites_pages_and_the_admins(client: Client, staff: Any) -> None:
    assert ICON_LINK in client.get("/").content.decode()
    client.force_login(staff)
    for url in ("/admin/", "/admin/recording/episode/"):
        page = client.get(url).content.decode()
        assert ICON_LINK in page, url
        assert "Django administration" in page or "Django site admin" in page  # still its own
