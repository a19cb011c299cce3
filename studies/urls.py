from django.urls import path

from . import views

app_name = "studies"

urlpatterns = [
    path("s/<slug:slug>/", views.entry, name="entry"),
    path("s/<slug:slug>/step/", views.step, name="step"),
    path("s/<slug:slug>/complete/", views.complete, name="complete"),
    path("s/<slug:slug>/done/", views.done, name="done"),
    path("s/<slug:slug>/withdraw/", views.withdraw, name="withdraw"),
    path("s/<slug:slug>/report/", views.report, name="report"),
    path("s/<slug:slug>/tab/", views.tab, name="tab"),
    path("s/<slug:slug>/progress/", views.progress, name="progress"),
    path("s/<slug:slug>/ping/", views.ping, name="ping"),
    path("s/<slug:slug>/attention/", views.attention, name="attention"),
]
