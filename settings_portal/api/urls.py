from django.urls import re_path

from . import views

app_name = "api"

# Endpoints are registered by the apps from their AppConfig.ready() (each imports its `api.py`).

urlpatterns = [
    re_path(
        r"^(?:v(?P<version>\d+\.?\d*)/)?(?P<name>[A-Za-z_]\w*\.[A-Za-z_]\w*)/?$",
        views.dispatch,
        name="endpoint",
    ),
    re_path(r"^(?P<path>.*)$", views.invalid_path, name="invalid-path"),
]
