from django.urls import path

from . import views

app_name = "recording"

urlpatterns = [
    path("me/episodes/", views.my_episodes, name="my_episodes"),
    path("me/episodes/<uuid:pk>/", views.my_episode_replay, name="my_episode_replay"),
    path(
        "me/episodes/<uuid:pk>/strips/<int:index>.png",
        views.my_episode_strip,
        name="my_episode_strip",
    ),
]
