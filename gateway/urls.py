from django.urls import path

from . import views

app_name = "gateway"

urlpatterns = [
    path("w/<slug:workspace_slug>/clearml-server/", views.server_panel, name="server-panel"),
    path("w/<slug:workspace_slug>/clearml-server/test/", views.server_test, name="server-test"),
]
