from django.urls import path

from . import views

app_name = "games"

urlpatterns = [
    path("", views.library, name="library"),
    path("games/<slug:slug>/", views.detail, name="detail"),
    path("games/<slug:slug>/play/", views.play, name="play"),
]
