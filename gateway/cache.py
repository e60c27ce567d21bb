"""What each process keeps in memory so that a forwarded call costs no database query:

- the links (workspace -> its upstream, secrets decrypted), all loaded at once and re-read at
  most every LINK_TTL seconds or as soon as a link changes;
- the user mapping ((link, portal user) -> upstream user id and name) and its reverse;
- the upstream tokens the portal minted (tokens.py), valid for minutes.

A link change (link, unlink, a check that changed the discovered company) and a rename publish a
message on the revocation pub/sub channel (workspaces.revocation.publish), so every process drops
what it cached at once; the TTL is the safety net while that channel is down.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from workspaces import revocation

LINK_TTL = 30.0
MAX_ENTRIES = 100_000
LINK_CHANGED = "gateway-link"
USER_CHANGED = "gateway-user"


@dataclass(frozen=True)
class Upstream:
    """A workspace's upstream apiserver, as the forwarder needs it."""

    link_id: int
    workspace_id: str  # hex, as tokens carry it
    url: str
    token_secret: str
    system_access_key: str
    system_secret_key: str
    company_id: str
    company_name: str
    server_version: str
    api_version: str


@dataclass(frozen=True)
class UpstreamIdentity:
    upstream_id: str
    name: str


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.links: dict[str, Upstream] = {}
        self.loaded_at: float | None = None
        self.generation = 0  # bumped by every change message: a load racing one is not kept
        self.identities: dict[tuple[int, str], UpstreamIdentity] = {}
        self.aliases: dict[tuple[int, str], str] = {}
        self.tokens: dict[tuple[int, str, str], tuple[float, str]] = {}
        self.system_tokens: dict[int, str] = {}


_cache = _Cache()


def links(loader) -> dict[str, Upstream]:
    """Every link by workspace id; LOADER() reads them from the database when stale."""
    cache = _cache
    now = time.monotonic()
    if cache.loaded_at is not None and now - cache.loaded_at < LINK_TTL:
        return cache.links
    with cache.lock:
        if cache.loaded_at is not None and now - cache.loaded_at < LINK_TTL:
            return cache.links
        generation = cache.generation
    loaded = loader()
    with cache.lock:
        if cache.generation == generation:
            cache.links = loaded
            cache.loaded_at = time.monotonic()
    return loaded


def identity(link_id: int, user_id: str) -> UpstreamIdentity | None:
    return _cache.identities.get((link_id, user_id))


def remember_identity(link_id: int, user_id: str, found: UpstreamIdentity) -> None:
    cache = _cache
    if len(cache.identities) > MAX_ENTRIES:
        cache.identities.clear()
        cache.aliases.clear()
    cache.identities[(link_id, user_id)] = found
    cache.aliases[(link_id, found.upstream_id)] = user_id


def alias(link_id: int, upstream_id: str) -> str | None:
    return _cache.aliases.get((link_id, upstream_id))


def token(key: tuple[int, str, str]) -> str | None:
    found = _cache.tokens.get(key)
    if found is None or found[0] <= time.monotonic():
        return None
    return found[1]


def remember_token(key: tuple[int, str, str], value: str, *, fresh_for: float) -> None:
    cache = _cache
    if len(cache.tokens) > MAX_ENTRIES:
        cache.tokens.clear()
    cache.tokens[key] = (time.monotonic() + fresh_for, value)


def system_token(link_id: int) -> str | None:
    return _cache.system_tokens.get(link_id)


def remember_system_token(link_id: int, value: str | None) -> None:
    if value is None:
        _cache.system_tokens.pop(link_id, None)
    else:
        _cache.system_tokens[link_id] = value


# --- invalidation ------------------------------------------------------------------------------


def link_changed(value: str = "") -> None:
    """Drop every link and everything derived from them (links change rarely)."""
    cache = _cache
    with cache.lock:
        cache.generation += 1
        cache.loaded_at = None
        cache.identities.clear()
        cache.aliases.clear()
        cache.tokens.clear()
        cache.system_tokens.clear()


def user_changed(user_id: str) -> None:
    """A user was renamed: their identities (and every token, named after them) are re-read."""
    cache = _cache
    for key in [key for key in cache.identities if key[1] == user_id]:
        found = cache.identities.pop(key, None)
        if found is not None:
            cache.aliases.pop((key[0], found.upstream_id), None)
    cache.tokens.clear()


def publish_link_changed(workspace_id: str) -> None:
    revocation.publish(LINK_CHANGED, workspace_id)


def publish_user_changed(user_id: str) -> None:
    revocation.publish(USER_CHANGED, user_id)


def listen() -> None:
    revocation.add_listener(LINK_CHANGED, link_changed)
    revocation.add_listener(USER_CHANGED, user_changed)


def reset() -> None:
    """Tests: forget everything."""
    link_changed()
