"""Revocation that takes effect at once in every API process.

A token names what it stands on: the credential it came from (`credential_id`) and, for an
impersonated token, its impersonation grant (`grant_id`, access.models.ImpersonationGrant).
The API asks `is_revoked(credential_id)` and, for impersonated tokens, `grant_is_revoked(grant_id)`
on every authenticated call. Asking PostgreSQL each time would cost about half the
throughput (docs/clearml-clients.md, "What the authenticated hot path costs"), so each
process keeps:

- `revoked`: keys ("c:<credential id>", "g:<grant id>") known to be revoked; they never come back;
- `verdicts`: the database's answer for a key (allowed, or refused for a reason that can
  change, such as a deactivated user), checked since the current pub/sub subscription
  started, with the users that answer depends on. Each expires after VERIFIED_TTL seconds
  (a safety net for changes made by hand, outside the services that publish).

A revoke updates the database, commits, then publishes (`publish_revoked`,
`publish_grants_revoked`): this process adds the key to its set and PUBLISHes it on Redis.
A user's deactivation (or re-activation) publishes `u:<user id>` (`publish_user_changed`):
every verdict that depends on that user is dropped, so their tokens, and the tokens
impersonating them or obtained by them, are checked against the database on their next call.

A listener thread (started lazily, after a fork, on first use) SUBSCRIBEs and applies every
message it receives. It PINGs over its own connection every PING_INTERVAL; when no answer
came for SILENCE_LIMIT seconds (listener not started yet, Redis down, connection killed),
checks fall back to the database on every call until the listener has re-subscribed. Each
(re)subscription starts a new generation: verdicts made under an older one are not trusted,
because messages may have been missed in between.

Without REDIS_URL (the embedded single-process default) every call checks the database directly.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from .models import Credential

logger = logging.getLogger(__name__)

PING_INTERVAL = 0.25
SILENCE_LIMIT = 1.0
VERIFIED_TTL = 60.0
RECONNECT_DELAY = 0.5
LISTENER_NAME = "portal-revocation-listener"

# What a database check says about a key: REVOKED is final (the key joins `revoked`);
# REFUSED may change (a user re-activated), so it is only cached as a verdict; None: allowed.
REVOKED = "revoked"
REFUSED = "refused"

CREDENTIAL = "c"
GRANT = "g"
USER = "u"


def channel_name() -> str:
    """The pub/sub channel. Redis channels ignore the database number, so the name
    carries the PostgreSQL database name: portals (or test runs) sharing one Redis
    never see each other's revocations."""
    override = getattr(settings, "PORTAL_REVOCATION_CHANNEL", "")
    if override:
        return override
    return f"portal:credential-revoked:{connection.settings_dict.get('NAME') or 'default'}"


class Verdict(NamedTuple):
    generation: int
    at: float
    refused: bool
    users: frozenset[str]  # user ids (hex) the verdict depends on


class _State:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.revoked: set[str] = set()
        self.verdicts: dict[str, Verdict] = {}
        self.generation = 0
        # Bumped (under `lock`) by every user message: a verdict read from the database
        # while one arrived may predate it, so it is not stored.
        self.invalidations = 0
        self.subscribed = False
        self.alive_at = 0.0
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()
        self.channel = ""
        self.publisher = None  # redis client, created on first publish

    def listening(self, now: float) -> bool:
        return self.subscribed and now - self.alive_at < SILENCE_LIMIT

    def revoke(self, key: str) -> None:
        self.revoked.add(key)
        self.verdicts.pop(key, None)

    def user_changed(self, user_id: str) -> None:
        with self.lock:
            self.invalidations += 1
            for key in [key for key, verdict in self.verdicts.items() if user_id in verdict.users]:
                self.verdicts.pop(key, None)


_state = _State()
_state_lock = threading.Lock()


def _current() -> _State:
    """This process's state; a forked child starts afresh (threads do not survive a fork)."""
    global _state
    if _state.pid != os.getpid():
        with _state_lock:
            if _state.pid != os.getpid():
                _state = _State()
    return _state


def _redis_url() -> str | None:
    return getattr(settings, "REDIS_URL", None) or None


DbCheck = Callable[[], tuple[str | None, frozenset[str]]]


def _db_credential(credential_id: int) -> tuple[str | None, frozenset[str]]:
    """REVOKED if the credential is revoked or gone, REFUSED if its user is deactivated."""
    row = (
        Credential.objects.filter(pk=credential_id)
        .values_list("revoked_at", "user_id", "user__is_active")
        .first()
    )
    if row is None or row[0] is not None:
        return REVOKED, frozenset()
    users = frozenset({row[1].hex})
    return (None if row[2] else REFUSED), users


# The database's word on an impersonation grant: access.impersonation.grant_db_verdict, registered
# by AccessConfig.ready() (workspaces imports no feature app). Unregistered: every grant is refused.
_grant_verdict: Callable[[int], tuple[str | None, frozenset[str]]] | None = None


def grant_verdict_register(check: Callable[[int], tuple[str | None, frozenset[str]]]) -> None:
    """CHECK(grant id) -> (REVOKED | REFUSED | None, ids of the users the answer depends on)."""
    global _grant_verdict
    _grant_verdict = check


def _db_grant(grant_id: int) -> tuple[str | None, frozenset[str]]:
    if _grant_verdict is None:
        return REVOKED, frozenset()
    return _grant_verdict(grant_id)


def _check(key: str, db_check: DbCheck) -> bool:
    """Whether tokens standing on KEY must be refused now (see the module docstring)."""
    state = _current()
    if key in state.revoked:
        return True
    url = _redis_url()
    if not url:
        return db_check()[0] is not None
    _ensure_listener(state, url)
    now = time.monotonic()
    if not state.listening(now):
        verdict, _ = db_check()
        if verdict == REVOKED:
            state.revoke(key)
        return verdict is not None
    generation, invalidations = state.generation, state.invalidations
    seen = state.verdicts.get(key)
    if seen is not None and seen.generation == generation and now - seen.at < VERIFIED_TTL:
        return seen.refused
    # This check starts after the subscription of GENERATION was confirmed, so a change
    # committed before it is in the database, and one committed after it is published to us.
    verdict, users = db_check()
    if verdict == REVOKED:
        state.revoke(key)
        return True
    with state.lock:
        if state.generation == generation and state.invalidations == invalidations:
            state.verdicts[key] = Verdict(generation, now, verdict is not None, users)
    return verdict is not None


def is_revoked(credential_id: int) -> bool:
    """Whether tokens of CREDENTIAL_ID must be refused now: revoked, gone, or its user deactivated."""
    return _check(f"{CREDENTIAL}:{credential_id}", lambda: _db_credential(credential_id))


def grant_is_revoked(grant_id: int) -> bool:
    """Whether impersonated tokens of the grant GRANT_ID must be refused now (the grant was
    revoked, or the caller or the owner is deactivated or lost what the grant stood on)."""
    return _check(f"{GRANT}:{grant_id}", lambda: _db_grant(grant_id))


def is_known_revoked(credential_id: int) -> bool:
    """Whether this process already knows CREDENTIAL_ID is revoked (tests, the ops command)."""
    return f"{CREDENTIAL}:{credential_id}" in _current().revoked


def publish_revoked(credential_id: int) -> None:
    """Called after a revoke commits: this process refuses the credential at once, and
    every other process as soon as the Redis message arrives."""
    _publish(f"{CREDENTIAL}:{credential_id}")


def publish_grants_revoked(grant_ids: Iterable[int]) -> None:
    """Called after impersonation grants were revoked (committed): their tokens stop everywhere."""
    for grant_id in grant_ids:
        _publish(f"{GRANT}:{grant_id}")


def publish_user_changed(user_id) -> None:
    """Called after a user's `is_active` changed (committed): every process drops what it
    cached about that user's tokens and asks the database on their next call."""
    _publish(f"{USER}:{getattr(user_id, 'hex', user_id)}")


# Other per-process caches that must drop entries at once in every process ride on the same
# channel (one pub/sub mechanism): `publish(kind, value)` sends "<kind>:<value>", and every
# process calls the functions registered with `add_listener(kind, func)` with VALUE.
_listeners: dict[str, list[Callable[[str], None]]] = {}


def add_listener(kind: str, func: Callable[[str], None]) -> None:
    """Call FUNC(value) in this process for every message of KIND (ours or another process's),
    from the listener thread: FUNC must be quick and thread-safe (drop cache entries)."""
    funcs = _listeners.setdefault(kind, [])
    if func not in funcs:
        funcs.append(func)


def publish(kind: str, value: str) -> None:
    """Send a message of KIND to every process (this one at once)."""
    if ":" in kind or kind in (CREDENTIAL, GRANT):
        raise ValueError(f"reserved or malformed message kind {kind!r}")
    _publish(f"{kind}:{value}")


def _apply(state: _State, message: str) -> None:
    """Apply one message (ours or another process's) to STATE."""
    kind, sep, value = message.partition(":")
    if not sep:  # the older form: a bare credential id
        kind, value = CREDENTIAL, kind
    if kind in (CREDENTIAL, GRANT):
        try:
            state.revoke(f"{kind}:{int(value)}")
        except ValueError:
            return
    elif kind == USER and value:
        state.user_changed(value)
    for func in _listeners.get(kind, ()):
        try:
            func(value)
        except Exception:
            logger.exception("revocation listener for %r failed on %r", kind, value)


def _publish(message: str) -> None:
    state = _current()
    _apply(state, message)
    url = _redis_url()
    if not url:
        return
    try:
        if state.publisher is None:
            import redis

            state.publisher = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        state.publisher.publish(channel_name(), message)
    except Exception:
        # Other processes still refuse it: their listener is silent for us, or it
        # re-subscribes, and either way they fall back to the database.
        logger.exception("could not publish the revocation message %s", message)
        state.publisher = None


def _ensure_listener(state: _State, url: str) -> None:
    if state.thread is not None and state.thread.is_alive():
        return
    with state.lock:
        if state.thread is not None and state.thread.is_alive():
            return
        state.channel = channel_name()
        state.stop.clear()
        state.thread = threading.Thread(
            target=_listen, args=(state, url), name="credential-revocation-listener", daemon=True
        )
        state.thread.start()


def _listen(state: _State, url: str) -> None:
    import redis

    last_warned = 0.0
    while not state.stop.is_set():
        pubsub = None
        try:
            client = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=2, client_name=f"{LISTENER_NAME}-{state.pid}"
            )
            pubsub = client.pubsub()
            pubsub.subscribe(state.channel)
            last_ping = 0.0
            while not state.stop.is_set():
                now = time.monotonic()
                if state.subscribed and now - last_ping >= PING_INTERVAL:
                    pubsub.ping()
                    last_ping = now
                message = pubsub.get_message(timeout=PING_INTERVAL / 2)
                if message is None:
                    continue
                kind = message.get("type")
                if kind == "subscribe":
                    state.generation += 1
                    state.subscribed = True
                    state.alive_at = time.monotonic()
                elif kind == "message":
                    data = message["data"]
                    if isinstance(data, bytes):
                        data = data.decode("ascii", "replace")
                    _apply(state, str(data))
                    state.alive_at = time.monotonic()
                elif kind == "pong":
                    state.alive_at = time.monotonic()
        except Exception as exc:
            # Warn once a minute at most while Redis stays away; requests check the database meanwhile.
            if not state.stop.is_set() and time.monotonic() - last_warned > 60:
                last_warned = time.monotonic()
                logger.warning("revocation listener lost Redis (%s); checking the database meanwhile", exc)
        finally:
            state.subscribed = False
            if pubsub is not None:
                try:
                    pubsub.close()
                except Exception:
                    logger.debug("closing the revocation pub/sub failed", exc_info=True)
        state.stop.wait(RECONNECT_DELAY)


def status() -> dict:
    """For tests and the ops command: what this process's cache knows."""
    state = _current()
    return {
        "listening": state.listening(time.monotonic()),
        "generation": state.generation,
        "revoked": len(state.revoked),
        "verified": sum(1 for verdict in state.verdicts.values() if not verdict.refused),
        "refused": sum(1 for verdict in state.verdicts.values() if verdict.refused),
    }


def wait_listening(timeout: float = 5.0) -> bool:
    """Start the listener if needed and wait until it is subscribed (tests, warm-up)."""
    state = _current()
    url = _redis_url()
    if not url:
        return False
    _ensure_listener(state, url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.listening(time.monotonic()):
            return True
        time.sleep(0.01)
    return False


def reset() -> None:
    """Forget everything and stop the listener (tests: each starts from a clean process state)."""
    global _state
    with _state_lock:
        old = _state
        old.stop.set()
        _state = _State()
    if old.thread is not None:
        old.thread.join(timeout=2)


def user_saved(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    """`post_save` receiver of the user model: when `is_active` may have changed (a save of
    that field, or of the whole row), publish the change after the commit, so a deactivated
    user's tokens stop at once in every process (and a re-activated user's work again).

    A bulk `QuerySet.update(is_active=...)` sends no signal: it reaches the processes only
    when their verdicts expire (VERIFIED_TTL); deactivate users with `save()`.
    """
    if created or (update_fields is not None and "is_active" not in update_fields):
        return
    from django.db import transaction

    user_id = instance.pk
    transaction.on_commit(lambda: publish_user_changed(user_id))
