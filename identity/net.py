"""Server-side requests to admin-given URLs (discovery, JWKS, token, userinfo), guarded against SSRF.

Every host is resolved and refused when any address is loopback, private, link-local,
reserved or multicast, unless PORTAL_IDP_ALLOW_PRIVATE_URLS allows it. Responses are
size-limited and every request has a timeout; redirects are not followed.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings

TIMEOUT = 10
MAX_BYTES = 512 * 1024


class UnsafeURL(ValueError):
    """The URL may not be fetched by the server."""


def check_url(url: str) -> str:
    """Return URL when the server may request it; raise UnsafeURL otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURL("Use an http(s) URL.")
    if parts.username or parts.password:
        raise UnsafeURL("URLs with credentials are not allowed.")
    if parts.scheme == "http" and not settings.PORTAL_IDP_ALLOW_PRIVATE_URLS:
        raise UnsafeURL("Use an https URL.")
    if settings.PORTAL_IDP_ALLOW_PRIVATE_URLS:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"Cannot resolve {parts.hostname}.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            raise UnsafeURL(f"{parts.hostname} resolves to a private or local address.")
    return url


def _read(response: requests.Response) -> bytes:
    body = b""
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_BYTES:
            raise UnsafeURL("The response is too large.")
    return body


def fetch_json(url: str, *, headers: dict | None = None) -> dict:
    """GET URL (guarded) and parse a JSON object; raise UnsafeURL or ValueError."""
    check_url(url)
    try:
        with requests.get(
            url, headers=headers or {}, timeout=TIMEOUT, allow_redirects=False, stream=True
        ) as response:
            if response.status_code != 200:
                raise ValueError(f"{url} answered {response.status_code}.")
            data = requests.models.complexjson.loads(_read(response))
    except requests.RequestException as exc:
        raise ValueError(f"Cannot reach {url}.") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{url} did not return a JSON object.")
    return data


def discover(issuer: str) -> dict:
    """The provider's OpenID configuration; its `issuer` must equal ISSUER (OIDC Discovery 4.3)."""
    config = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if str(config.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise ValueError("The discovery document names another issuer.")
    return config
