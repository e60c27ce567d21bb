"""Small HTTP helpers shared by the web views and the API (no feature app imports here)."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind PORTAL_TRUSTED_PROXY_COUNT reverse proxies it is the entry
    that many hops from the right of X-Forwarded-For (what the outermost proxy saw); entries
    further left are the client's own claims and are ignored."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.PORTAL_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops <= 0 or not forwarded:
        return remote
    chain = [part.strip() for part in forwarded.split(",") if part.strip()]
    if len(chain) < hops:
        return remote
    try:
        return str(ipaddress.ip_address(chain[-hops]))
    except ValueError:
        return remote
