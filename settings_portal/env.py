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
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config


def dev_secret_key(path) -> str:
    """This install's development SECRET_KEY: read from PATH, or made there on first run.

    Random per install and readable by its owner only (0600): a key written in the repository
    would let anyone sign sessions, password-reset links and API tokens for every development
    instance. Two processes starting at once agree on one key (the file appears atomically).
    """
    from pathlib import Path

    path = Path(path)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = None
    except OSError as exc:
        raise ImproperlyConfigured(
            f"cannot read the development key {path} ({exc}); set SECRET_KEY"
        ) from None
    if key is None:
        key = _create_dev_secret_key(path)
    if len(key) < 32:
        raise ImproperlyConfigured(
            f"{path} holds no usable key: delete it to make a new one, or set SECRET_KEY"
        )
    return key


def _create_dev_secret_key(path) -> str:
    import secrets

    key = secrets.token_urlsafe(50)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(key + "\n")
        try:
            os.link(temporary, path)  # fails if another process made the key first: use theirs
        except FileExistsError:
            key = path.read_text().strip()
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"cannot create the development key {path} ({exc}); set SECRET_KEY"
        ) from None
    return key


# The embedded SQLite default serves concurrent requests (threads, several processes) without
# "database is locked": WAL lets readers run beside the one writer, every transaction takes
# the write lock when it starts (IMMEDIATE) instead of failing when a reader tries to upgrade,
# and a writer waits up to SQLITE_BUSY_TIMEOUT seconds for its turn instead of failing at once.
SQLITE_BUSY_TIMEOUT = 30
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": SQLITE_BUSY_TIMEOUT,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
