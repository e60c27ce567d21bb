"""Server-side requests to admin-given URLs (discovery, JWKS, token, userinfo, revocation), guarded
against SSRF.

Two steps, so that saving a form never needs the network:
- `check_url` looks at the URL only (no DNS): http(s), no credentials, https unless
  PORTAL_IDP_ALLOW_PRIVATE_URLS, and an IP literal must be a public address.
- `request` resolves the host once, refuses it unless every address is public, and connects to the
  address it checked (no second lookup, so DNS rebinding cannot swap in another address). TLS still
  verifies the certificate against the host name (SNI and hostname check), not the address.

"Public" is `ipaddress.is_global` plus what Python 3.11 gets wrong or cannot see: the IETF
protocol block 192.0.0.0/24, multicast, and IPv4 addresses embedded in IPv6 (6to4, NAT64,
IPv4-mapped), which would lead back to a private or loopback IPv4 address.
Responses are size-limited, every request has a timeout, and redirects are not followed.
PORTAL_IDP_ALLOW_PRIVATE_URLS (labs, tests) lifts the address and https rules, nothing else.
"""

import ipaddress
import json
import os
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

TIMEOUT = 10
MAX_BYTES = 512 * 1024
# An on-premises provider behind a company CA: the same variables requests and OpenSSL read.
CA_BUNDLE = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or certifi.where()

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not global although Python 3.11 says so (RFC 6890: only .9 and .10 of it are global; refusing
# the whole block costs nothing for an identity provider).
_NOT_GLOBAL = [ipaddress.ip_network("192.0.0.0/24")]
# NAT64 prefixes: the last 32 bits are the IPv4 address the gateway connects to.
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]


class UnsafeURL(ValueError):
    """The URL may not be fetched by the server."""


def is_public(address: Address) -> bool:
    """True when ADDRESS is on the public internet, including any IPv4 address it embeds."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and any(address in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
    if address.is_multicast or any(address in net for net in _NOT_GLOBAL if net.version == address.version):
        return False
    return address.is_global


def _ascii_host(hostname: str) -> str:
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeURL(f"{hostname} is not a valid host name.") from exc


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str) -> str:
    """Return URL when its form is acceptable (no DNS lookup); raise UnsafeURL otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UnsafeURL("This URL cannot be read.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURL("Use an http(s) URL.")
    if parts.username or parts.password:
        raise UnsafeURL("URLs with credentials are not allowed.")
    if settings.PORTAL_IDP_ALLOW_PRIVATE_URLS:
        return url
    if parts.scheme == "http":
        raise UnsafeURL("Use an https URL.")
    literal = _literal(parts.hostname)
    if literal is not None and not is_public(literal):
        raise UnsafeURL(f"{parts.hostname} is a private or local address.")
    return url


def resolve(host: str, port: int) -> Address:
    """The address to connect to for HOST: one lookup, and every address it gives must be public."""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise UnsafeURL(f"Cannot resolve {host}.") from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise UnsafeURL(f"Cannot resolve {host}.")
    if not settings.PORTAL_IDP_ALLOW_PRIVATE_URLS:
        for address in addresses:
            if not is_public(address):
                raise UnsafeURL(f"{host} resolves to a private or local address.")
    return addresses[0]


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError("The answer is not JSON.") from exc


def request(
    method: str, url: str, *, headers: dict | None = None, body: bytes | None = None, timeout: float = TIMEOUT
) -> Response:
    """Send one request to URL's checked address; raise UnsafeURL or ValueError (unreachable)."""
    check_url(url)
    parts = urlsplit(url)
    host = _ascii_host(parts.hostname)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(host, port)
    literal = _literal(host)
    host_header = f"[{host}]" if literal is not None and literal.version == 6 else host
    if parts.port:
        host_header += f":{parts.port}"
    options = {
        "host": str(address),
        "port": port,
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,
        "maxsize": 1,
    }
    if https:
        # Connect to the address, but speak TLS to the host name: SNI and the certificate check.
        options.update(cert_reqs="CERT_REQUIRED", ca_certs=CA_BUNDLE, assert_hostname=host)
        if literal is None:
            options["server_hostname"] = host
    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    send_headers = {"Host": host_header, "User-Agent": "settings-portal", **(headers or {})}
    deadline = time.monotonic() + 2 * timeout
    try:
        with pool_class(**options) as pool:
            response = pool.urlopen(
                method,
                path,
                body=body,
                headers=send_headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                data = b""
                for chunk in response.stream(64 * 1024):
                    data += chunk
                    if len(data) > MAX_BYTES:
                        raise UnsafeURL("The response is too large.")
                    if time.monotonic() > deadline:
                        raise ValueError(f"{url} is too slow to answer.")
            finally:
                response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise ValueError(f"Cannot reach {url}.") from exc
    return Response(response.status, data, response.headers.get("Content-Type", ""))


def fetch_json(url: str, *, headers: dict | None = None) -> dict:
    """GET URL (guarded) and parse a JSON object; raise UnsafeURL or ValueError."""
    response = request("GET", url, headers={"Accept": "application/json", **(headers or {})})
    if response.status != 200:
        raise ValueError(f"{url} answered {response.status}.")
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError(f"{url} did not return a JSON object.")
    return data


def discover(issuer: str) -> dict:
    """The provider's OpenID configuration; its `issuer` must equal ISSUER (OIDC Discovery 4.3)."""
    config = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if str(config.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise ValueError("The discovery document names another issuer.")
    return config
