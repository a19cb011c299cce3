from django.urls import path

from . import views

app_name = "recording"

urlpatterns = [
    path("me/episodes/", views.my_episodes, name="my_episodes"),
]
