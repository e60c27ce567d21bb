"""The portal's URLs plus one that fails: the 500 page is tested through a real uncaught error."""

from django.urls import path

from settings_portal.urls import handler403, handler404, handler500  # noqa: F401
from settings_portal.urls import urlpatterns as portal_urlpatterns


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom), *portal_urlpatterns]
