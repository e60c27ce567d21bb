"""Revocation that takes effect at once in every API process.

A token names the credential it came from; the API asks `is_revoked(credential_id)`
on every authenticated call. Asking PostgreSQL each time would cost about half the
throughput (clearml-api.md, "What the authenticated hot path costs"), so each
process keeps:

- `revoked`: ids known to be revoked (they never come back);
- `verified`: ids checked in the database as active since the current pub/sub
  subscription started (each entry expires after VERIFIED_TTL seconds, so a
  deactivated user stops within that time).

A revoke updates the database, commits, then calls `publish_revoked`, which adds the
id to this process's set and PUBLISHes it on Redis. A listener thread (started
lazily, after a fork, on first use) SUBSCRIBEs and adds every id it receives. It
PINGs over its own connection every PING_INTERVAL; when no answer came for
SILENCE_LIMIT seconds (listener not started yet, Redis down, connection killed),
`is_revoked` falls back to a database check on every call until the listener
has re-subscribed. Each (re)subscription starts a new generation: verifications
made under an older one are not trusted, because messages may have been missed
in between.

Without REDIS_URL (the embedded single-process default) every call checks the
database directly.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

PING_INTERVAL = 0.25
SILENCE_LIMIT = 1.0
VERIFIED_TTL = 60.0
RECONNECT_DELAY = 0.5
LISTENER_NAME = "portal-revocation-listener"


def channel_name() -> str:
    """The pub/sub channel. Redis channels ignore the database number, so the name
    carries the PostgreSQL database name: portals (or test runs) sharing one Redis
    never see each other's revocations."""
    override = getattr(settings, "PORTAL_REVOCATION_CHANNEL", "")
    if override:
        return override
    return f"portal:credential-revoked:{connection.settings_dict.get('NAME') or 'default'}"


class _State:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.revoked: set[int] = set()
        self.verified: dict[int, tuple[int, float]] = {}
        self.generation = 0
        self.subscribed = False
        self.alive_at = 0.0
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()
        self.channel = ""
        self.publisher = None  # redis client, created on first publish

    def listening(self, now: float) -> bool:
        return self.subscribed and now - self.alive_at < SILENCE_LIMIT


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


def _db_revoked(credential_id: int) -> bool:
    """True if the credential is revoked, gone, or its user is deactivated."""
    from .models import Credential

    return not Credential.objects.filter(
        pk=credential_id, revoked_at__isnull=True, user__is_active=True
    ).exists()


def is_revoked(credential_id: int) -> bool:
    """Whether tokens of CREDENTIAL_ID must be refused now (see the module docstring)."""
    state = _current()
    if credential_id in state.revoked:
        return True
    url = _redis_url()
    if not url:
        return _db_revoked(credential_id)
    _ensure_listener(state, url)
    now = time.monotonic()
    if not state.listening(now):
        revoked = _db_revoked(credential_id)
        if revoked:
            state.revoked.add(credential_id)
        return revoked
    generation = state.generation
    seen = state.verified.get(credential_id)
    if seen is not None and seen[0] == generation and now - seen[1] < VERIFIED_TTL:
        return False
    # This check starts after the subscription of GENERATION was confirmed, so a revoke
    # committed before it is in the database, and one committed after it is published to us.
    revoked = _db_revoked(credential_id)
    if revoked:
        state.revoked.add(credential_id)
    elif state.generation == generation:
        state.verified[credential_id] = (generation, now)
    return revoked


def publish_revoked(credential_id: int) -> None:
    """Called after a revoke commits: this process refuses the credential at once, and
    every other process as soon as the Redis message arrives."""
    state = _current()
    state.revoked.add(credential_id)
    state.verified.pop(credential_id, None)
    url = _redis_url()
    if not url:
        return
    try:
        if state.publisher is None:
            import redis

            state.publisher = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        state.publisher.publish(channel_name(), str(credential_id))
    except Exception:
        # Other processes still refuse it: their listener is silent for us, or it
        # re-subscribes, and either way they fall back to the database.
        logger.exception("could not publish the revocation of credential %s", credential_id)
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
                    try:
                        credential_id = int(message["data"])
                    except (TypeError, ValueError):
                        continue
                    state.revoked.add(credential_id)
                    state.verified.pop(credential_id, None)
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
        "verified": len(state.verified),
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
