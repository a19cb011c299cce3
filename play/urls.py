from django.urls import path

from . import views

app_name = "play"

urlpatterns = [
    path("watch/<uuid:episode>/", views.watch, name="watch"),
]
