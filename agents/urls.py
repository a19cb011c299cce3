from django.urls import path

from . import api, views

app_name = "agents"

urlpatterns = [
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<str:prefix>/revoke/", views.revoke, name="revoke"),
    # The agent API over HTTP, where OpenEnv's tools look (no trailing slashes).
    path("health", api.health, name="health"),
    path("metadata", api.metadata, name="metadata"),
    path("schema", api.schemas, name="schema"),
    path("openapi.json", api.openapi, name="openapi"),
    path("mcp", api.mcp, name="mcp"),
    path("sessions", api.sessions, name="sessions"),
    path("sessions/<str:session_id>", api.session, name="session"),
    path("sessions/<str:session_id>/step", api.step, name="step"),
]
