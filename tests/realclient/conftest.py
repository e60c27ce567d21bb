"""A live portal (pytest-django's live_server, one request per connection: tests/live_portal.py) and
the real `clearml` SDK, run in subprocesses.

Each SDK interaction runs in a fresh Python process with a scrubbed environment
(no CLEARML_*/TRAINS_* variables, HOME and CLEARML_CONFIG_FILE in the test's tmp
dir), because the SDK keeps Session state at class level and reads its config
file and environment once per process.
"""

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from accounts import api as accounts_api
from settings_portal.api import authentication
from workspaces import revocation

BIN = Path(sys.executable).parent
SDK_TIMEOUT = 90


@dataclass
class Portal:
    base_url: str
    api_url: str
    files_url: str


@pytest.fixture
def portal(live_portal, settings):
    """The live server, with the URLs the credentials dialog prints pointing at it."""
    settings.PORTAL_BASE_URL = live_portal.url
    settings.PORTAL_API_URL = f"{live_portal.url}/api"
    settings.PORTAL_FILES_URL = ""
    revocation.reset()
    authentication.reset_last_used_throttle()
    accounts_api.profile_cache_clear()
    yield Portal(
        base_url=live_portal.url,
        api_url=settings.PORTAL_API_URL,
        files_url="",
    )
    revocation.reset()


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLEARML_", "TRAINS_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        HOME=str(home),
        CLEARML_CONFIG_FILE=str(home / "clearml.conf"),
        CLEARML_LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
        NO_PROXY="*",
    )
    env.update(extra)
    return env


def run_script(
    script: str, env: dict[str, str], home: Path, *, timeout: float, check_exit: bool = True, stdin=None
) -> dict:
    """Run a client SCRIPT (Python source) in its own process; the last JSON line it printed."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    ok = lines and (result.returncode == 0 or not check_exit)
    assert ok, f"the script failed ({result.returncode})\n{result.stdout}\n{result.stderr}"
    return json.loads(lines[-1])


@pytest.fixture
def sdk_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def run_sdk(sdk_home):
    """Run SCRIPT in a fresh interpreter; it must print one JSON object as its last stdout line."""

    def run(script: str, *, env: dict[str, str] | None = None, stdin: str | None = None) -> dict:
        return run_script(
            script, clean_env(sdk_home, **(env or {})), sdk_home, timeout=SDK_TIMEOUT, stdin=stdin
        )

    return run


@pytest.fixture
def clearml_init(sdk_home):
    """Run the real `clearml-init` with TEXT pasted on its standard input."""

    def run(text: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "clearml-init")],
            env=clean_env(sdk_home),
            input=text + "\n",
            capture_output=True,
            text=True,
            timeout=SDK_TIMEOUT,
            cwd=sdk_home,
        )

    return run
