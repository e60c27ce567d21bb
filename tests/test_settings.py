"""settings_portal/settings.py: production passes `check --deploy`, missing variables fail fast."""

import importlib.util
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from settings_portal import env

REQUIRED = ["SECRET_KEY", "ALLOWED_HOSTS", "PORTAL_BASE_URL", "PORTAL_ENCRYPTION_KEYS", "DATABASE_URL"]
KEY = Fernet.generate_key().decode()


def production_env(**overrides) -> dict[str, str]:
    values = {
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "portal.example.com",
        "PORTAL_BASE_URL": "https://portal.example.com",
        "PORTAL_ENCRYPTION_KEYS": KEY,
        "DATABASE_URL": "postgres://portal:pw@db.example.com:5432/portal",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


# Variables of the machine that must not leak into a "clean" environment.
PORTAL_VARS = {*REQUIRED, "DEBUG", "REDIS_URL", "EMAIL_HOST", "PORTAL_HASH_KEY", "CSRF_TRUSTED_ORIGINS"}


@pytest.fixture
def load(monkeypatch):
    """Run settings.py afresh under an environment; return the module."""

    def run(values: dict[str, str]):
        for name in list(os.environ):
            if name in PORTAL_VARS or name.endswith("_FILE") or name.startswith(("SECURE_", "LOGIN_RATE")):
                monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.find_spec("settings_portal.settings")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return run


def manage(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in PORTAL_VARS}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    clean.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests; never in deployment
    return subprocess.run(
        [sys.executable, "manage.py", *args, "--settings=settings_portal.settings"],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_passes_check_deploy_with_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize("name", REQUIRED)
def test_each_missing_required_variable_fails_fast_naming_it(name):
    result = manage("check", env=production_env(**{name: None}))
    assert result.returncode != 0
    assert f"{name} is required when DEBUG is off" in result.stderr
    assert result.stderr.count("Traceback") <= 1


@pytest.mark.parametrize("name", REQUIRED)
def test_each_missing_required_variable_in_process(load, name):
    with pytest.raises(ImproperlyConfigured, match=f"^{name} is required"):
        load(production_env(**{name: None}))
    with pytest.raises(ImproperlyConfigured, match=f"^{name} is required"):
        load(production_env(**{name: ""}))


def test_production_settings_are_secure(load):
    module = load(production_env())
    assert module.DEBUG is False
    assert module.SESSION_COOKIE_SECURE and module.CSRF_COOKIE_SECURE and module.SECURE_SSL_REDIRECT
    assert module.SECURE_HSTS_SECONDS >= 31536000
    assert module.ALLOWED_HOSTS == ["portal.example.com"]
    assert module.CSRF_TRUSTED_ORIGINS == ["https://portal.example.com"]
    assert module.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert module.DATABASES["default"]["HOST"] == "db.example.com"
    assert module.PORTAL_API_URL == "https://portal.example.com/api"
    assert "whitenoise" in module.STORAGES["staticfiles"]["BACKEND"]


def test_development_needs_nothing(load):
    module = load({"DEBUG": "true"})
    assert module.DEBUG is True
    assert module.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert module.CELERY_TASK_ALWAYS_EAGER is True
    assert module.PORTAL_BASE_URL.startswith("http://127.0.0.1:")
    Fernet(module.PORTAL_ENCRYPTION_KEYS[0].encode())  # a derived, valid key
    assert module.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"


def test_redis_url_switches_cache_and_broker(load):
    module = load({"DEBUG": "true", "REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert module.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert module.CELERY_BROKER_URL == "redis://127.0.0.1:6379/3"
    assert module.CELERY_TASK_ALWAYS_EAGER is False


def test_email_host_switches_to_smtp(load):
    module = load({"DEBUG": "true", "EMAIL_HOST": "smtp.example.com"})
    assert module.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
    assert module.EMAIL_HOST == "smtp.example.com"


def test_secrets_can_come_from_files(load, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz\n")
    env_values = production_env(SECRET_KEY=None)
    env_values["SECRET_KEY_FILE"] = str(secret_file)
    module = load(env_values)
    assert module.SECRET_KEY == "from-a-file-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def test_unreadable_secret_file_is_named(load, tmp_path):
    env_values = production_env(SECRET_KEY=None)
    env_values["SECRET_KEY_FILE"] = str(tmp_path / "missing")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE points to an unreadable file"):
        load(env_values)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"LOGIN_RATE_LIMIT": "five"}, "LOGIN_RATE_LIMIT must be an integer"),
        ({"PORTAL_BASE_URL": "portal.example.com"}, "PORTAL_BASE_URL must be an absolute http"),
        ({"PORTAL_BASE_URL": "ftp://portal.example.com"}, "PORTAL_BASE_URL must be an absolute http"),
        ({"PORTAL_ENCRYPTION_KEYS": "not-a-key"}, "PORTAL_ENCRYPTION_KEYS: key #1 is not a Fernet key"),
        ({"PORTAL_ENCRYPTION_KEYS": f"{KEY},bad"}, "PORTAL_ENCRYPTION_KEYS: key #2 is not a Fernet key"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "postgres://"}, "DATABASE_URL names no database"),
    ],
)
def test_malformed_values_are_named(load, overrides, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load(production_env(**overrides))


def test_several_encryption_keys_newest_first(load):
    old = Fernet.generate_key().decode()
    module = load(production_env(PORTAL_ENCRYPTION_KEYS=f" {KEY} , {old} "))
    keys = module.PORTAL_ENCRYPTION_KEYS
    assert keys == [KEY, old]


def test_trailing_slash_of_the_base_url_is_dropped(load):
    assert load(production_env(PORTAL_BASE_URL="https://portal.example.com/")).PORTAL_BASE_URL == (
        "https://portal.example.com"
    )


# --- The typed helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,value",
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_env_bool(monkeypatch, raw, value):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env.env_bool("SOME_FLAG") is value


@pytest.mark.parametrize("raw", ["2", "maybe", "truthy", "y e s"])
def test_env_bool_errors_name_the_variable(monkeypatch, raw):
    monkeypatch.setenv("SOME_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match=r"SOME_FLAG must be a boolean \(true/false\)"):
        env.env_bool("SOME_FLAG")


def test_env_bool_default(monkeypatch):
    monkeypatch.delenv("SOME_FLAG", raising=False)
    assert env.env_bool("SOME_FLAG", True) is True


def test_env_int(monkeypatch):
    monkeypatch.setenv("SOME_INT", "42")
    assert env.env_int("SOME_INT", 1) == 42
    monkeypatch.setenv("SOME_INT", " ")
    assert env.env_int("SOME_INT", 7) == 7
    monkeypatch.setenv("SOME_INT", "4.2")
    with pytest.raises(ImproperlyConfigured, match="SOME_INT must be an integer"):
        env.env_int("SOME_INT", 1)


def test_env_list(monkeypatch):
    monkeypatch.setenv("SOME_LIST", " a, b ,,c ")
    assert env.env_list("SOME_LIST") == ["a", "b", "c"]
    monkeypatch.delenv("SOME_LIST")
    assert env.env_list("SOME_LIST") == []


def test_env_secret_prefers_the_variable(monkeypatch, tmp_path):
    path = tmp_path / "s"
    path.write_text("file-value")
    monkeypatch.setenv("SOME_SECRET_FILE", str(path))
    assert env.env_secret("SOME_SECRET") == "file-value"
    monkeypatch.setenv("SOME_SECRET", "env-value")
    assert env.env_secret("SOME_SECRET") == "env-value"


# --- The README documents what exists -------------------------------------------------------------


def test_readme_lists_every_variable_settings_reads():
    import re
    from pathlib import Path

    source = (Path(settings.BASE_DIR) / "settings_portal/settings.py").read_text()
    names = set(re.findall(r"(?:env_\w+|require)\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']", source))
    assert {"DATABASE_URL", "SECRET_KEY", "REDIS_URL"} <= names
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    table = {match for match in re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", readme, re.M)}
    assert not names - table, f"README's configuration table lacks {sorted(names - table)}"


def test_readme_lists_every_portal_command():
    from pathlib import Path

    from django.core.management import get_commands

    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    commands = sorted(name for name in get_commands() if name.startswith("portal_"))
    assert {"portal_users", "portal_keys", "portal_demo"} <= set(commands)
    missing = [name for name in commands if f"| `{name}` |" not in readme]
    assert not missing, f"README's Operations table lacks {missing}"
