"""The portal's URLs plus the ceiling the bench compares against: a bare Django view
returning constant JSON through the same middleware stack."""

from django.http import JsonResponse
from django.urls import path

from settings_portal.urls import urlpatterns as portal_urlpatterns


def bare(request):
    return JsonResponse({"meta": {"result_code": 200}, "data": {}})


urlpatterns = [path("bench/bare", bare), *portal_urlpatterns]
