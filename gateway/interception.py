"""Interception points of forwarded calls: where an app checks or rewrites a call before it goes
to the ClearML server, and observes the answer after. Access Rules and resource policies plug
in here (docs/gateway.md).

    from gateway.interception import Forwarded, after_forward, before_forward
    from settings_portal.api import errors

    @before_forward("tasks.enqueue")
    def check_queue(forwarded: Forwarded) -> None:
        queue = forwarded.body.get("queue")                  # the parsed JSON body
        if not allowed(forwarded.call.user, queue):          # the portal identity (lazy loads)
            raise errors.RoleNotAllowed(f"you may not enqueue into {queue}")   # refused: 403
        forwarded.body["status_reason"] = "checked"          # rewritten: sent re-serialised

    @after_forward("tasks.create")
    def remember(forwarded: Forwarded, status: int, response: dict | None) -> None:
        ...                                                  # response: the parsed envelope (small ones)

Names are exact ("tasks.enqueue"), a service ("tasks.*") or everything ("*"). A call with a
before-hook has its body read and parsed (gzip undone; `events.add_batch` json-lines become a
list); calls without one are streamed untouched. A body that cannot be parsed is refused (400)
when a before-hook needs it, so a check can never be skipped by a malformed body. After-hooks
see the status and the parsed envelope when the answer is JSON of at most AFTER_PARSE_LIMIT
bytes (else None); their exceptions are logged and never change the answer.

Register from your app's `AppConfig.ready()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from settings_portal.api import ApiCall

    from .cache import Upstream, UpstreamIdentity

AFTER_PARSE_LIMIT = 1024 * 1024


@dataclass
class Forwarded:
    """One call on its way to the upstream."""

    call: ApiCall  # the portal's view: call.user, call.workspace, call.membership (loaded lazily)
    name: str  # "tasks.get_all"
    version: str | None  # as requested ("2.23"), None without a /vX.Y/ prefix
    upstream: Upstream
    upstream_user: UpstreamIdentity  # who the upstream sees
    body: Any = None  # the parsed request body (before-hooks only): a dict, or a list of events
    extra: dict[str, Any] = field(default_factory=dict)  # for hooks to pass notes to their after-hook


Before = Callable[[Forwarded], None]
After = Callable[[Forwarded, int, "dict | None"], None]

_before: list[tuple[str, Before]] = []
_after: list[tuple[str, After]] = []
_when: dict[Before, Callable[[ApiCall], bool]] = {}


def _matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return name.split(".", 1)[0] == pattern[:-2]
    return pattern == name


def _check(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise ValueError("name at least one endpoint ('tasks.enqueue'), a service ('tasks.*') or '*'")
    for name in names:
        if name != "*" and (name.count(".") != 1 or not name.split(".")[0]):
            raise ValueError(f"not an endpoint name or pattern: {name!r}")
    return names


def before_forward(*names: str, when: Callable[[ApiCall], bool] | None = None) -> Callable[[Before], Before]:
    """Register FUNC(forwarded) to run before calls to NAMES are forwarded.

    WHEN(call) -> bool, if given, is asked first (cheaply: the hot path costs no query); when it
    says no, FUNC does not run and, if no other hook wants it, the call is streamed unparsed."""
    patterns = _check(names)

    def register(func: Before) -> Before:
        if when is not None:
            _when[func] = when
        for pattern in patterns:
            if (pattern, func) not in _before:
                _before.append((pattern, func))
        hooks_for.cache_clear()
        return func

    return register


def after_forward(*names: str) -> Callable[[After], After]:
    """Register FUNC(forwarded, status, response) to run after calls to NAMES were answered."""
    patterns = _check(names)

    def register(func: After) -> After:
        for pattern in patterns:
            if (pattern, func) not in _after:
                _after.append((pattern, func))
        hooks_for.cache_clear()
        return func

    return register


def unregister(func: Callable) -> None:
    _before[:] = [entry for entry in _before if entry[1] is not func]
    _when.pop(func, None)
    _after[:] = [entry for entry in _after if entry[1] is not func]
    hooks_for.cache_clear()


@cache
def hooks_for(name: str) -> tuple[tuple[Before, ...], tuple[After, ...]]:
    """The before- and after-hooks of NAME, in registration order (cached per name)."""
    befores = tuple(func for pattern, func in _before if _matches(pattern, name))
    afters = tuple(func for pattern, func in _after if _matches(pattern, name))
    return befores, afters


def wanted(befores: tuple[Before, ...], call: ApiCall) -> tuple[Before, ...]:
    """The BEFORES that want CALL (their `when`, if any, says yes)."""
    return tuple(func for func in befores if func not in _when or _when[func](call))


@contextmanager
def registered(*names: str, before: Before | None = None, after: After | None = None) -> Iterator[None]:
    """Tests: hooks for NAMES inside the block only."""
    if before is not None:
        before_forward(*names)(before)
    if after is not None:
        after_forward(*names)(after)
    try:
        yield
    finally:
        for func in (before, after):
            if func is not None:
                unregister(func)
