from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path
from django.utils.cache import patch_cache_control
from django.views.static import serve


def favicon(request: HttpRequest) -> HttpResponse:
    """The site's icon, for browsers that ask for /favicon.ico whatever a page links."""
    response = HttpResponseRedirect(static("favicon.svg"))
    patch_cache_control(response, public=True, max_age=86_400)  # asked for on every page
    return response


urlpatterns: list[URLPattern | URLResolver] = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("recording.urls")),
    path("", include("games.urls")),
    path("", include("play.urls")),
    path("", include("studies.urls")),
    path("", include("agents.urls")),
]

if settings.SERVE_MEDIA:
    # Local-disk storage (the embedded default): Django serves the games' thumbnails, and only
    # them. Recordings (episodes/) and exports (exports/) sit in the same MEDIA_ROOT but are
    # private: staff reach them through the admin's permission-checked views. A thumbnail is a
    # plain file name (no "/"), served from the thumbnails folder itself, so no path can
    # climb out of it.
    urlpatterns += [
        path(
            "media/thumbnails/<str:path>",
            serve,
            {"document_root": settings.MEDIA_ROOT / "thumbnails"},
            name="thumbnail",
        ),
    ]
