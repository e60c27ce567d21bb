"""Typed readers for configuration taken from the environment.

Every setting the portal reads from the environment goes through these helpers so
that a missing or malformed value fails with a message that names the variable.
"""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (Docker/K8s secrets)."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points to an unreadable file: {exc}") from None
    return None


def require(name: str, value, reason: str):
    if not value:
        raise ImproperlyConfigured(f"{name} is required {reason}.")
    return value


def require_url(name: str, value: str) -> str:
    """VALUE must be an absolute http(s) URL with a host (a public base URL)."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} must be an absolute http(s):// URL such as https://portal.example.com, got {value!r}"
        )
    return value


def require_fernet_keys(name: str, keys: list[str]) -> list[str]:
    """Every key must be a Fernet key (32 url-safe base64 bytes): fail at start-up, not at first use."""
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name}: key #{position} is not a Fernet key (make one with `manage.py portal_keys generate`)"
            ) from None
    return keys


def env_database(name: str, *, default: str, conn_max_age: int) -> dict:
    """Django's DATABASES entry from the URL in NAME (dj-database-url), or DEFAULT."""
    import dj_database_url

    url = os.environ.get(name) or default
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    except (ValueError, dj_database_url.UnknownSchemeError) as exc:
        raise ImproperlyConfigured(
            f"{name} is not a database URL (postgres://user:pass@host:5432/name): {exc}"
        ) from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database (postgres://user:pass@host:5432/name)")
    return config
