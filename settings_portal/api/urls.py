from django.urls import re_path

from . import registry, views

app_name = "api"

# Like admin.autodiscover(): every app's `api.py` registers its endpoints when the URLconf loads.
registry.autodiscover()

urlpatterns = [
    re_path(
        r"^(?:v(?P<version>\d+\.?\d*)/)?(?P<name>[A-Za-z_]\w*\.[A-Za-z_]\w*)/?$",
        views.dispatch,
        name="endpoint",
    ),
    re_path(r"^(?P<path>.*)$", views.invalid_path, name="invalid-path"),
]
