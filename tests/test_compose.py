"""docker-compose.yml and Dockerfile, checked statically (no Docker engine on these machines).

Beyond the shape (services, health checks, depends_on conditions, volumes), the web
service's environment is interpolated the way Compose does it and fed to
`manage.py check --deploy`: the deployment as written passes the production checks.
"""

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(settings.BASE_DIR)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DJANGO_SERVICES = ["migrate", "web", "worker", "beat"]
LONG_RUNNING = ["postgres", "redis", "web", "worker", "beat"]
REQUIRED = ["SECRET_KEY", "ALLOWED_HOSTS", "PORTAL_BASE_URL", "PORTAL_ENCRYPTION_KEYS", "DATABASE_URL"]
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")

SAMPLE_DOTENV = {
    "SECRET_KEY": "compose-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG",
    "ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_BASE_URL": "https://portal.example.com",
    "PORTAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "POSTGRES_PASSWORD": "pg-password",
}


def interpolate(value, dotenv: dict[str, str]):
    """Compose's variable substitution: ${X}, ${X:-default}, ${X:?error}, $$ for a literal $."""
    if isinstance(value, list):
        return [interpolate(item, dotenv) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, dotenv) for key, item in value.items()}
    if not isinstance(value, str):
        return value

    def substitute(match):
        name, op, arg = match.group("name", "op", "arg")
        current = dotenv.get(name)
        if op and op.endswith("?") and not current:
            raise KeyError(f"{name}: {arg}")
        if op and op.endswith("-") and not current:
            return arg
        return current or ""

    return VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def command(service: str) -> list[str]:
    cmd = SERVICES[service].get("command")
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd or [])


def test_services_present():
    assert set(LONG_RUNNING) <= set(SERVICES)
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")
    for name in DJANGO_SERVICES:
        assert SERVICES[name]["build"] == "." and SERVICES[name]["image"] == "settings-portal:latest"


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_every_long_running_service_has_a_health_check(service):
    check = SERVICES[service]["healthcheck"]
    assert not check.get("disable")
    assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1
    for key in ("interval", "timeout", "retries"):
        assert key in check, f"{service}: healthcheck.{key}"
    assert SERVICES[service].get("restart") == "unless-stopped"


def test_health_check_scripts_compile():
    for service in ("web", "beat"):
        test = SERVICES[service]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], f"{service}: a Python health check"
        compile(test[3], f"{service}-healthcheck", "exec")


def test_web_health_check_asks_for_the_sign_in_page_as_the_proxy_would():
    script = SERVICES["web"]["healthcheck"]["test"][-1]
    assert "/accounts/login/" in script and "X-Forwarded-Proto" in script and "ALLOWED_HOSTS" in script


@pytest.mark.parametrize("service", ["web", "worker", "beat"])
def test_app_services_wait_for_healthy_dependencies_and_migrations(service):
    depends = SERVICES[service]["depends_on"]
    assert isinstance(depends, dict), "depends_on with conditions"
    assert depends["redis"] == {"condition": "service_healthy"}
    if service != "beat":
        assert depends["postgres"] == {"condition": "service_healthy"}
    assert depends["migrate"] == {"condition": "service_completed_successfully"}


def test_migrate_is_a_one_shot_init_step():
    assert command("migrate") == ["python", "manage.py", "migrate", "--noinput"]
    assert SERVICES["migrate"]["restart"] == "no"
    assert SERVICES["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_named_volumes_declared_and_used():
    declared = set(COMPOSE["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/")):
                used.add(source)
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert used == declared
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])
    assert any(v.endswith(":/data") for v in SERVICES["redis"]["volumes"])


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_app_services_get_every_required_setting(service):
    env = environment(service)
    for name in REQUIRED:
        assert env.get(name), f"{service} lacks {name}"
    assert env["DEBUG"] == "false"
    resolved = interpolate(env, SAMPLE_DOTENV)
    assert resolved["DATABASE_URL"] == "postgres://portal:pg-password@postgres:5432/portal"
    assert resolved["REDIS_URL"].startswith("redis://redis:6379/")
    assert SERVICES[service]["env_file"] == ".env"


def test_web_trusts_the_reverse_proxy_the_readme_puts_in_front(rf, settings):
    """README: a TLS-terminating reverse proxy sits in front of the web port and appends the
    client's address to X-Forwarded-For. Without trusting that hop every client has the proxy's
    address, and one client's failed sign-ins lock out everyone behind it."""
    env = interpolate(environment("web"), SAMPLE_DOTENV)
    assert env["PORTAL_TRUSTED_PROXY_COUNT"] == "1"
    override = interpolate(environment("web"), {**SAMPLE_DOTENV, "PORTAL_TRUSTED_PROXY_COUNT": "0"})
    assert override["PORTAL_TRUSTED_PROXY_COUNT"] == "0", "an operator without a proxy can turn it off"

    from accounts.views import client_ip

    settings.PORTAL_TRUSTED_PROXY_COUNT = int(env["PORTAL_TRUSTED_PROXY_COUNT"])
    proxy = "172.18.0.5"  # every request reaches gunicorn from the proxy's container
    seen = {
        client_ip(rf.get("/", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=client))
        for client in ("203.0.113.7", "198.51.100.9", "forged, 198.51.100.9")
    }
    assert seen == {"203.0.113.7", "198.51.100.9"}


def test_database_credentials_match_the_postgres_service():
    pg = interpolate(environment("postgres"), SAMPLE_DOTENV)
    url = interpolate(environment("web"), SAMPLE_DOTENV)["DATABASE_URL"]
    assert (
        url == f"postgres://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    )


def test_missing_required_dotenv_values_stop_compose():
    """`${X:?message}`: Compose refuses to start without them, naming the variable."""
    for name in SAMPLE_DOTENV:
        partial = {key: value for key, value in SAMPLE_DOTENV.items() if key != name}
        with pytest.raises(KeyError, match=name):
            interpolate(environment("web") | environment("postgres"), partial)


def test_dotenv_example_documents_every_variable_compose_reads():
    example = (ROOT / ".env.example").read_text()
    text = (ROOT / "docker-compose.yml").read_text()
    for name in {match.group("name") for match in VARIABLE.finditer(text)}:
        assert re.search(rf"^#?\s*{name}=", example, re.M), f".env.example lacks {name}"
    assert ".env" in (ROOT / ".gitignore").read_text().split(), ".env holds secrets: never commit it"


def test_compose_environment_passes_check_deploy():
    env = interpolate(environment("web"), SAMPLE_DOTENV)
    base = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "VIRTUAL_ENV"}}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            "--settings=settings_portal.settings",
        ],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_web_runs_gunicorn_on_the_wsgi_application():
    cmd = command("web")
    assert cmd[0] == "gunicorn"
    module_name, attribute = cmd[1].split(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute))
    assert "--bind=0.0.0.0:8000" in cmd
    assert any(port.endswith(":8000") for port in SERVICES["web"]["ports"])


@pytest.mark.parametrize("service,role", [("worker", "worker"), ("beat", "beat")])
def test_celery_services_use_the_projects_app(service, role):
    cmd = command(service)
    assert cmd[:4] == ["celery", "-A", "settings_portal", role]
    from celery import Celery

    assert isinstance(importlib.import_module("settings_portal").celery_app, Celery)


def test_worker_health_check_pings_itself():
    test = " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert "celery -A settings_portal inspect ping" in test and "$$HOSTNAME" in test


def test_beat_pidfile_matches_its_health_check():
    cmd = command("beat")
    pidfile = next(arg.split("=", 1)[1] for arg in cmd if arg.startswith("--pidfile="))
    assert pidfile in " ".join(SERVICES["beat"]["healthcheck"]["test"])


def test_manage_py_commands_exist():
    commands = get_commands()
    for service in DJANGO_SERVICES:
        cmd = command(service)
        if cmd[:2] == ["python", "manage.py"]:
            assert cmd[2] in commands


# --- Dockerfile ------------------------------------------------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_dockerfile_base_and_lock():
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, re.M)
    assert "pip install -c requirements.lock" in DOCKERFILE
    # Celery on Redis (kombu's redis transport) imports `packaging` without declaring it.
    assert re.search(r"pip install -c requirements\.lock \. .*\bpackaging\b", DOCKERFILE)
    assert "collectstatic --noinput" in DOCKERFILE
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M)
    assert re.search(r'^CMD \["gunicorn", "settings_portal\.wsgi:application"', DOCKERFILE, re.M)


def test_dockerfile_copies_files_that_exist():
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert source == "." or (ROOT / source).exists(), f"COPY {source}: no such file"


def test_requirements_lock_pins_the_runtime():
    lock = (ROOT / "requirements.lock").read_text()
    for package in ("Django", "gunicorn", "celery", "psycopg", "whitenoise", "cryptography"):
        assert re.search(rf"^{package}(\[\w+\])?==", lock, re.M | re.I), package


def test_dockerignore_keeps_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", ".env"):
        assert entry in ignored
