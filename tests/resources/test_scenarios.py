"""Every scenario of the shared scheduler-scenarios.json comes out as expected, through
the command (`portal_resources simulate`) and through the simulator it drives."""

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from resources.simulation import simulate

SCENARIO_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "scheduler-scenarios.json"
LOCAL_COPY = Path(__file__).with_name("scheduler-scenarios.json")
SCENARIOS = json.loads((SCENARIO_FILE if SCENARIO_FILE.exists() else LOCAL_COPY).read_text())


def normalized(result: dict) -> dict:
    """Numbers compared as decimals; admissions as a mapping (their order is not part of the contract)."""
    return {
        "admitted": dict(result["admitted"]),
        "pending": list(result["pending"]),
        "pool_usage": {k: Decimal(str(v)) for k, v in result["pool_usage"].items()},
        "policy_usage": {k: Decimal(str(v)) for k, v in result["policy_usage"].items()},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario_comes_out_as_expected(scenario):
    (output,) = simulate([scenario])
    assert output["name"] == scenario["name"]
    assert [normalized(r) for r in output["results"]] == [normalized(r) for r in scenario["expected"]]


@pytest.mark.django_db
def test_simulate_command_prints_every_scenario_and_changes_nothing(tmp_path):
    from resources.models import Job, Pool

    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(SCENARIOS))
    out = StringIO()
    call_command("portal_resources", "simulate", str(path), stdout=out)
    printed = json.loads(out.getvalue())
    assert [p["name"] for p in printed] == [s["name"] for s in SCENARIOS]
    for scenario, result in zip(SCENARIOS, printed, strict=True):
        assert [normalized(r) for r in result["results"]] == [normalized(r) for r in scenario["expected"]]
    # Rolled back: nothing of the scenarios is left behind.
    assert not Pool.objects.dangerously_all().exists()
    assert not Job.objects.dangerously_all().exists()


def test_simulate_works_on_the_embedded_sqlite_default(tmp_path):
    """The command on a fresh SQLite database (no DATABASE_URL), as `make run` sets it up."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DEBUG="true", PORTAL_VAR_DIR=str(tmp_path))
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(SCENARIOS))
    manage = [sys.executable, str(root / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=root, env=env, check=True, timeout=300)
    proc = subprocess.run(
        [*manage, "portal_resources", "simulate", str(path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "portal.sqlite3").exists()
    printed = json.loads(proc.stdout)
    for scenario, result in zip(SCENARIOS, printed, strict=True):
        assert [normalized(r) for r in result["results"]] == [normalized(r) for r in scenario["expected"]]
