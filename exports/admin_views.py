"""The admin's downloads of finished exports: the only way to an export's files.

Exports hold every player's recordings, so their files are never served publicly: these views
sit behind the admin's staff check and also require the view permission on exports. On the
local disk the file is streamed from storage; on Google Cloud Storage the answer is a redirect
to a signed URL that expires after ``ARCADE_DOWNLOAD_URL_SECONDS``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render

from .models import AdminExport
from .services import admin_export_files


def _export_for(request: HttpRequest, pk: int) -> AdminExport:
    if not request.user.has_perm("exports.view_adminexport"):
        raise PermissionDenied("Downloading exports needs the “view admin export” permission.")
    return get_object_or_404(AdminExport, pk=pk)


def export_files(request: HttpRequest, pk: int) -> HttpResponse:
    """The files of one export, each a download link."""
    export = _export_for(request, pk)
    context = {
        **admin.site.each_context(request),
        "title": f"Files of {export}",
        "export": export,
        "files": admin_export_files(export) if export.status == AdminExport.Status.DONE else [],
        "opts": AdminExport._meta,
    }
    return render(request, "admin/exports/export_files.html", context)


def export_file(request: HttpRequest, pk: int, path: str) -> HttpResponseBase:
    """One file of an export: streamed, or a short-lived signed URL on Cloud Storage."""
    export = _export_for(request, pk)
    # Only names the export lists: a path can never reach outside the export's prefix.
    if path not in admin_export_files(export):
        raise Http404(f"{export} has no file {path}.")
    name = f"{export.prefix}/{path}"
    if _is_cloud_storage():
        expiration = timedelta(seconds=settings.ARCADE["DOWNLOAD_URL_SECONDS"])
        signed = default_storage.url(name, parameters={"expiration": expiration})  # type: ignore[call-arg]
        return HttpResponseRedirect(signed)
    return FileResponse(
        default_storage.open(name, "rb"), as_attachment=True, filename=path.rsplit("/", 1)[-1]
    )


def _is_cloud_storage() -> bool:
    from storages.backends.gcloud import GoogleCloudStorage

    # default_storage is a lazy proxy; isinstance sees the storage it wraps
    return isinstance(default_storage, GoogleCloudStorage)
