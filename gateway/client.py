"""HTTP to the upstream apiservers: one keep-alive connection pool per process (urllib3), with
connect and read timeouts and no retries (the clients retry on the 502 we answer instead), and
the small JSON calls the portal itself makes (system login, auth.create_user, server.info).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any

import urllib3
from django.conf import settings
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError

_pool: urllib3.PoolManager | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def pool() -> urllib3.PoolManager:
    """This process's pool (a forked worker makes its own: sockets are not shared across a fork)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = urllib3.PoolManager(
                    num_pools=64,
                    maxsize=settings.PORTAL_UPSTREAM_POOL_SIZE,
                    block=False,
                    retries=False,
                )
                _pool_pid = os.getpid()
    return _pool


def timeout(read: float | None = None) -> urllib3.Timeout:
    return urllib3.Timeout(
        connect=settings.PORTAL_UPSTREAM_CONNECT_TIMEOUT,
        read=settings.PORTAL_UPSTREAM_READ_TIMEOUT if read is None else read,
    )


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or did not answer in time.

    `status` is what a reverse proxy answers then: 504 for a timeout, 502 otherwise."""

    def __init__(self, message: str, *, status: int = 502):
        super().__init__(message)
        self.status = status


def unavailable(exc: Exception) -> UpstreamUnavailable:
    """The UpstreamUnavailable for a urllib3 error."""
    if isinstance(exc, ReadTimeoutError):
        return UpstreamUnavailable("the ClearML server did not answer in time", status=504)
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return UpstreamUnavailable("the ClearML server did not accept the connection in time", status=504)
    return UpstreamUnavailable("the ClearML server could not be reached")


@dataclass
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def data(self) -> dict[str, Any]:
        data = self.body.get("data")
        return data if isinstance(data, dict) else {}

    @property
    def message(self) -> str:
        meta = self.body.get("meta") or {}
        return str(meta.get("result_msg") or f"HTTP {self.status}")


def call(
    url: str,
    endpoint: str,
    data: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
    read_timeout: float | None = None,
) -> Reply:
    """POST one JSON call to the upstream at URL; raises UpstreamUnavailable."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif basic:
        headers.update(urllib3.make_headers(basic_auth=f"{basic[0]}:{basic[1]}"))
    try:
        response = pool().request(
            "POST",
            f"{url.rstrip('/')}/{endpoint}",
            body=json.dumps(data or {}).encode(),
            headers=headers,
            timeout=timeout(read_timeout),
            redirect=False,
        )
    except (HTTPError, OSError) as exc:
        raise unavailable(exc) from exc
    try:
        body = json.loads(response.data or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return Reply(response.status, body)
