"""A fixed-window limit on failed sign-ins, kept in the cache (Redis in production,
so every web process shares the counters)."""

import hashlib

from django.conf import settings
from django.core.cache import cache


def _keys(ip: str, login: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"{ip}|{login.strip().lower()}".encode()).hexdigest()[:32]
    return f"login-fail:pair:{digest}", f"login-fail:ip:{ip}"


def is_limited(ip: str, login: str) -> bool:
    pair_key, ip_key = _keys(ip, login)
    counts = cache.get_many([pair_key, ip_key])
    return (
        counts.get(pair_key, 0) >= settings.LOGIN_RATE_LIMIT
        or counts.get(ip_key, 0) >= settings.LOGIN_RATE_LIMIT_PER_IP
    )


def record_failure(ip: str, login: str) -> None:
    for key in _keys(ip, login):
        if cache.add(key, 1, timeout=settings.LOGIN_RATE_WINDOW):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_RATE_WINDOW)


def reset(ip: str, login: str) -> None:
    cache.delete(_keys(ip, login)[0])
