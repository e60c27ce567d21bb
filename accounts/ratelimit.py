"""A fixed-window limit on failed sign-ins, kept in the cache (Redis in production,
so every web process shares the counters).

Failures are counted per (client address, account) and per client address. The account is
the one the login names, whichever way it is named: ada and ada@example.com are one counter.
A login that names nobody is counted as typed (lower-cased), which tells nobody whether an
account exists. An account's counter is keyed with its session auth hash (an HMAC of the
password hash), so a password reset or change releases a locked-out account at once: the
guesses counted so far were against a password that no longer works.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

from .backends import account_for_login


def subject(login: str) -> str:
    """What LOGIN's per-account counter is keyed on. Compute it once per request: a successful
    sign-in may rehash the password (a hasher upgrade), which changes it."""
    login = (login or "").strip()
    account = account_for_login(login)
    if account is None:
        return f"login:{login.lower()}"
    return f"account:{account.pk}:{account.get_session_auth_hash()}"


def _keys(ip: str, subject: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"{ip}|{subject}".encode()).hexdigest()[:32]
    return f"login-fail:pair:{digest}", f"login-fail:ip:{ip}"


def is_limited(ip: str, subject: str) -> bool:
    pair_key, ip_key = _keys(ip, subject)
    counts = cache.get_many([pair_key, ip_key])
    return (
        counts.get(pair_key, 0) >= settings.LOGIN_RATE_LIMIT
        or counts.get(ip_key, 0) >= settings.LOGIN_RATE_LIMIT_PER_IP
    )


def record_failure(ip: str, subject: str) -> None:
    for key in _keys(ip, subject):
        if cache.add(key, 1, timeout=settings.LOGIN_RATE_WINDOW):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_RATE_WINDOW)


def reset(ip: str, subject: str) -> None:
    cache.delete(_keys(ip, subject)[0])
