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

    @rewrite_answer("queues.get_all", when=has_rules)
    def hide_entries(forwarded: Forwarded, status: int, response: dict) -> bool:
        response["data"]["queues"][0]["entries"] = []        # changed in place...
        return True                                          # ...and said so: sent re-serialised

Names are exact ("tasks.enqueue"), a service ("tasks.*") or everything ("*"). A call with a
before-hook has its body read and parsed (gzip undone; `events.add_batch` json-lines become a
list); calls without one are streamed untouched. A body that cannot be parsed is refused (400)
when a before-hook needs it, so a check can never be skipped by a malformed body. After-hooks
see the status and the parsed envelope when the answer is JSON of at most AFTER_PARSE_LIMIT
bytes (else None); their exceptions are logged and never change the answer.

Answer rewriters take out of an answer what the caller may not see (a hidden sub-project named
in its parent's entry, say). A call with a wanted rewriter has its whole answer read (at most
REWRITE_LIMIT bytes, asked for without compression) and parsed; each rewriter edits the parsed
envelope in place and returns True when it changed something. A rewriter that fails, or an
answer that cannot be read or parsed, is never passed on as it came: the caller gets a 502
envelope (a rewriter guards secrets, so failing open is not an option).

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
REWRITE_LIMIT = 64 * 1024 * 1024


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
Rewriter = Callable[[Forwarded, int, dict], bool]

_before: list[tuple[str, Before]] = []
_after: list[tuple[str, After]] = []
_rewriters: list[tuple[str, Rewriter]] = []
_when: dict[Callable, Callable[[ApiCall], bool]] = {}
_needs: dict[Callable, Callable[[Forwarded], bool]] = {}


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


def rewrite_answer(
    *names: str,
    when: Callable[[ApiCall], bool] | None = None,
    needs: Callable[[Forwarded], bool] | None = None,
) -> Callable[[Rewriter], Rewriter]:
    """Register FUNC(forwarded, status, response) -> changed to edit the answers to NAMES.

    WHEN(call), as for before_forward, keeps the hot path unbuffered for calls it does not want;
    NEEDS(forwarded), asked after the before-hooks ran (the body parsed, their notes in
    forwarded.extra), lets an answer that cannot need editing stream as usual."""
    patterns = _check(names)

    def register(func: Rewriter) -> Rewriter:
        if when is not None:
            _when[func] = when
        if needs is not None:
            _needs[func] = needs
        for pattern in patterns:
            if (pattern, func) not in _rewriters:
                _rewriters.append((pattern, func))
        rewriters_for.cache_clear()
        return func

    return register


def unregister(func: Callable) -> None:
    _before[:] = [entry for entry in _before if entry[1] is not func]
    _when.pop(func, None)
    _needs.pop(func, None)
    _after[:] = [entry for entry in _after if entry[1] is not func]
    _rewriters[:] = [entry for entry in _rewriters if entry[1] is not func]
    hooks_for.cache_clear()
    rewriters_for.cache_clear()


@cache
def hooks_for(name: str) -> tuple[tuple[Before, ...], tuple[After, ...]]:
    """The before- and after-hooks of NAME, in registration order (cached per name)."""
    befores = tuple(func for pattern, func in _before if _matches(pattern, name))
    afters = tuple(func for pattern, func in _after if _matches(pattern, name))
    return befores, afters


@cache
def rewriters_for(name: str) -> tuple[Rewriter, ...]:
    """The answer rewriters of NAME, in registration order (cached per name)."""
    return tuple(func for pattern, func in _rewriters if _matches(pattern, name))


def wanted(funcs: tuple, call: ApiCall) -> tuple:
    """The FUNCS (before-hooks or rewriters) that want CALL (their `when`, if any, says yes)."""
    return tuple(func for func in funcs if func not in _when or _when[func](call))


def needed(rewriters: tuple[Rewriter, ...], forwarded: Forwarded) -> tuple[Rewriter, ...]:
    """The REWRITERS that need FORWARDED's answer (their `needs`, if any, says yes)."""
    return tuple(func for func in rewriters if func not in _needs or _needs[func](forwarded))


@contextmanager
def registered(
    *names: str, before: Before | None = None, after: After | None = None, rewrite: Rewriter | None = None
) -> Iterator[None]:
    """Tests: hooks for NAMES inside the block only."""
    if before is not None:
        before_forward(*names)(before)
    if after is not None:
        after_forward(*names)(after)
    if rewrite is not None:
        rewrite_answer(*names)(rewrite)
    try:
        yield
    finally:
        for func in (before, after, rewrite):
            if func is not None:
                unregister(func)
