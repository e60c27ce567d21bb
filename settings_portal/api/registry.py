"""The endpoint registry: `@endpoint("service.action")` and the lookup the dispatcher uses."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

NAME_RE = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Endpoint:
    name: str
    func: Callable[..., dict[str, Any] | None]
    auth: bool
    min_version: tuple[int, int]
    fallback: bool
    impersonated: bool = True
    forward_when_linked: bool = False

    @property
    def version_text(self) -> str:
        return f"{self.min_version[0]}.{self.min_version[1]}"


_endpoints: dict[str, list[Endpoint]] = {}


def parse_version(text: str) -> tuple[int, int]:
    """'2.23' -> (2, 23); '2' -> (2, 0). Raises ValueError."""
    major, _, minor = str(text).partition(".")
    return int(major), int(minor or 0)


def endpoint(
    name: str,
    *,
    auth: bool = True,
    min_version: str = "1.0",
    fallback: bool = False,
    impersonated: bool = True,
    forward_when_linked: bool = False,
) -> Callable[[Callable], Callable]:
    """Register the decorated function as the API endpoint NAME ("service.action").

    The function receives an `ApiCall` and returns the response's `data` dict (or
    None for `{}`), or raises an `ApiError`. AUTH=False skips the Bearer token check
    (the function authenticates by itself, or the endpoint is public). MIN_VERSION:
    requests for an older API version get 404, as on the open-source server; several
    functions may serve one name from different versions. FALLBACK=True registers a
    placeholder that any ordinary registration of the same name replaces.
    IMPERSONATED=False: administrative endpoints (credentials, anything that changes who may
    do what); an impersonated token gets 403 before the function runs.
    FORWARD_WHEN_LINKED=True: the portal's stand-in for a ClearML call, answered only when the
    caller's workspace has no ClearML server of its own; otherwise the call is forwarded there
    (the transport's fallback hook, gateway/).
    """
    if not NAME_RE.match(name):
        raise ImproperlyConfigured(f"API endpoint names look like 'service.action', got {name!r}")
    version = parse_version(min_version)

    def decorator(func: Callable) -> Callable:
        register(
            Endpoint(
                name=name,
                func=func,
                auth=auth,
                min_version=version,
                fallback=fallback,
                impersonated=impersonated,
                forward_when_linked=forward_when_linked,
            )
        )
        return func

    return decorator


def register(ep: Endpoint) -> None:
    current = _endpoints.get(ep.name, [])
    if ep.fallback:
        if any(not other.fallback for other in current):
            return  # the real implementation is already there
    else:
        current = [other for other in current if not other.fallback]
    for other in current:
        if other.min_version == ep.min_version and other.func is not ep.func:
            raise ImproperlyConfigured(
                f"API endpoint {ep.name} v{ep.version_text} is registered twice "
                f"({other.func.__module__}.{other.func.__qualname__} and {ep.func.__module__}.{ep.func.__qualname__})"
            )
    current = [other for other in current if other.min_version != ep.min_version]
    current.append(ep)
    current.sort(key=lambda item: item.min_version, reverse=True)
    _endpoints[ep.name] = current


def unregister(name: str) -> None:
    _endpoints.pop(name, None)


@contextmanager
def replaced(name: str) -> Iterator[None]:
    """Tests: register other functions for NAME inside the block; its registrations come back after."""
    saved = list(_endpoints.get(name, []))
    _endpoints[name] = []
    try:
        yield
    finally:
        _endpoints[name] = saved


def resolve(name: str, version: tuple[int, int]) -> Endpoint | None:
    """The endpoint serving NAME at VERSION: the newest one whose min_version <= VERSION."""
    for ep in _endpoints.get(name, ()):
        if ep.min_version <= version:
            return ep
    return None


def names() -> list[str]:
    return sorted(_endpoints)
