"""docker-compose.clearml.yml, checked statically (no Docker engine here), merged over
docker-compose.yml as `docker compose -f docker-compose.yml -f docker-compose.clearml.yml` does:
the official clearml-server images, the apiserver reachable only by the portal, its secrets
generated once and given to both, and the portal's settings from it passing `check --deploy`."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from gateway.services import PUBLIC_SYSTEM_KEYS, PUBLIC_TOKEN_SECRETS
from tests.test_compose import SAMPLE_DOTENV, VARIABLE, interpolate

ROOT = Path(settings.BASE_DIR)
TEXT = (ROOT / "docker-compose.clearml.yml").read_text()
OVERRIDE = yaml.safe_load(TEXT)
BASE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = OVERRIDE["services"]
PORTAL = ["migrate", "web", "worker", "beat"]
CLEARML = [
    "clearml-apiserver",
    "clearml-fileserver",
    "clearml-webserver",
    "clearml-mongo",
    "clearml-elastic",
    "clearml-redis",
]
DOTENV = {**SAMPLE_DOTENV, "CLEARML_FILES_URL": "https://files.example.com"}


def merged(name: str) -> dict:
    """A service of the base file with the override applied (mappings merged, lists by value)."""
    base, extra = BASE["services"].get(name, {}), SERVICES.get(name, {})
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = {**base[key], **value}
        elif key in ("volumes", "networks") and isinstance(base.get(key), list):
            out[key] = list(dict.fromkeys(base[key] + value))
        else:
            out[key] = value
    return out


def test_the_official_clearml_server_images_are_there():
    assert set(CLEARML) <= set(SERVICES)
    for name in ("clearml-apiserver", "clearml-fileserver", "clearml-webserver"):
        assert SERVICES[name]["image"].startswith("allegroai/clearml:")
    assert SERVICES["clearml-mongo"]["image"].startswith("mongo:")
    assert SERVICES["clearml-elastic"]["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    assert SERVICES["clearml-redis"]["image"].startswith("redis:")
    assert SERVICES["clearml-apiserver"]["command"][-1].endswith("/opt/clearml/entrypoint.sh apiserver")
    assert SERVICES["clearml-fileserver"]["command"] == ["fileserver"]
    assert SERVICES["clearml-webserver"]["command"] == ["webserver"]


def test_only_the_portal_reaches_the_apiserver():
    assert OVERRIDE["networks"]["clearml-backend"]["internal"] is True
    apiserver = SERVICES["clearml-apiserver"]
    assert apiserver["networks"] == ["clearml-backend"] and "ports" not in apiserver
    for name in ("clearml-mongo", "clearml-elastic", "clearml-redis"):
        assert SERVICES[name]["networks"] == ["clearml-backend"] and "ports" not in SERVICES[name]
    on_backend = {
        name for name, service in SERVICES.items() if "clearml-backend" in service.get("networks", [])
    }
    assert on_backend == {
        "clearml-apiserver",
        "clearml-fileserver",
        "clearml-mongo",
        "clearml-elastic",
        "clearml-redis",
        *PORTAL,
    }
    # ClearML's web app, when started, talks to the portal, never to the apiserver.
    assert SERVICES["clearml-webserver"]["environment"]["NGINX_APISERVER_ADDRESS"] == "http://web:8000/api"
    assert "clearml-backend" not in SERVICES["clearml-webserver"]["networks"]


@pytest.mark.parametrize("service", PORTAL)
def test_the_portal_services_join_the_server(service):
    config = merged(service)
    env = interpolate({key: str(value) for key, value in config["environment"].items()}, DOTENV)
    assert env["CLEARML_UPSTREAM_API_URL"] == "http://clearml-apiserver:8008"
    assert env["PORTAL_SINGLE_WORKSPACE"] == "true"
    for name in ("TOKEN_SECRET", "SYSTEM_ACCESS_KEY", "SYSTEM_SECRET_KEY"):
        assert env[f"CLEARML_UPSTREAM_{name}_FILE"].startswith("/run/clearml-secrets/")
        assert f"CLEARML_UPSTREAM_{name}" not in env  # never a secret in the environment
    assert "clearml-secrets:/run/clearml-secrets:ro" in config["volumes"]
    assert set(config["networks"]) == {"default", "clearml-backend"}
    assert config["depends_on"]["clearml-secrets"] == {"condition": "service_completed_successfully"}
    if service != "migrate":  # the base file's dependencies are kept
        assert config["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    if service == "web":
        assert config["depends_on"]["clearml-apiserver"] == {"condition": "service_healthy"}


def test_every_long_running_service_has_a_health_check_and_restarts():
    for name in CLEARML:
        check = SERVICES[name]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and not check.get("disable"), name
        assert SERVICES[name]["restart"] == "unless-stopped", name
    assert SERVICES["clearml-secrets"]["restart"] == "no"
    depends = SERVICES["clearml-apiserver"]["depends_on"]
    for name in ("clearml-mongo", "clearml-elastic", "clearml-redis"):
        assert depends[name] == {"condition": "service_healthy"}


def secrets_script(folder: Path) -> str:
    return SERVICES["clearml-secrets"]["command"][2].replace("/run/clearml-secrets", str(folder))


def test_the_secrets_are_generated_once_and_given_to_both(tmp_path):
    folder = tmp_path / "clearml-secrets"
    folder.mkdir()
    first = subprocess.run(
        [sys.executable, "-c", secrets_script(folder)], capture_output=True, text=True, check=True
    )
    assert "generated: token_secret" in first.stdout
    values = {path.name: path.read_text() for path in folder.iterdir()}
    second = subprocess.run(
        [sys.executable, "-c", secrets_script(folder)], capture_output=True, text=True, check=True
    )
    assert "kept the existing secrets" in second.stdout
    assert {path.name: path.read_text() for path in folder.iterdir()} == values  # once, never again
    assert len(values["token_secret"]) >= 32 and re.fullmatch(r"[A-Z0-9]{30}", values["system_access_key"])
    assert (
        values["token_secret"] not in PUBLIC_TOKEN_SECRETS
        and values["system_access_key"] not in PUBLIC_SYSTEM_KEYS
    )
    assert oct(os.stat(folder / "token_secret").st_mode & 0o777) == "0o400"

    # The apiserver's settings come from the same files the portal reads.
    wrapper = SERVICES["clearml-apiserver"]["command"][0].replace("$$", "$")
    portal_env = SERVICES["web"]["environment"]
    pairs = {
        "CLEARML__secure__auth__token_secret": portal_env["CLEARML_UPSTREAM_TOKEN_SECRET_FILE"],
        "CLEARML__secure__credentials__apiserver__user_key": portal_env[
            "CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY_FILE"
        ],
        "CLEARML__secure__credentials__apiserver__user_secret": portal_env[
            "CLEARML_UPSTREAM_SYSTEM_SECRET_KEY_FILE"
        ],
    }
    for variable, path in pairs.items():
        assert f'{variable}="$(cat {path})"' in wrapper
    # The other public credentials of secure.conf are replaced as well.
    for name in ("webserver", "tests"):
        assert f"CLEARML__secure__credentials__{name}__user_secret=" in wrapper
    assert not any(secret in TEXT for secret in PUBLIC_TOKEN_SECRETS | PUBLIC_SYSTEM_KEYS)


def test_the_portal_settings_from_the_compose_files_pass_check_deploy(tmp_path):
    folder = tmp_path / "clearml-secrets"
    folder.mkdir()
    subprocess.run([sys.executable, "-c", secrets_script(folder)], capture_output=True, check=True)
    env = interpolate({key: str(value) for key, value in merged("web")["environment"].items()}, DOTENV)
    env = {key: value.replace("/run/clearml-secrets", str(folder)) for key, value in env.items()}
    base = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "VIRTUAL_ENV"}}
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CLEARML_UPSTREAM_API_URL, len(s.CLEARML_UPSTREAM_TOKEN_SECRET), s.CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, **env, "DJANGO_SETTINGS_MODULE": "settings_portal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [
        "http://clearml-apiserver:8008",
        str(len((folder / "token_secret").read_text())),
        (folder / "system_access_key").read_text(),
    ]
    checked = subprocess.run(
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
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_named_volumes_declared_and_dotenv_example_documents_the_variables():
    declared = set(OVERRIDE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"
    example = (ROOT / ".env.example").read_text()
    for name in {match.group("name") for match in VARIABLE.finditer(TEXT)}:
        assert re.search(rf"^#?\s*{name}=", example, re.M), f".env.example lacks {name}"
    with pytest.raises(KeyError, match="CLEARML_FILES_URL"):
        interpolate(merged("web")["environment"], SAMPLE_DOTENV)
