from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.static import serve

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("recording.urls")),
    path("", include("games.urls")),
    path("", include("play.urls")),
    path("", include("studies.urls")),
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
