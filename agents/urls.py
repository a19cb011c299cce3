from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<str:prefix>/revoke/", views.revoke, name="revoke"),
]
