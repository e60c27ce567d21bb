"""The real `clearml` SDK and `clearml-agent` work directly against the stand-in, so the gateway tests
can put the portal between them and it.

Each client runs in its own process with a scrubbed environment and a temporary HOME (as in
tests/realclient), configured only by CLEARML_* variables pointing at the stand-in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.realclient.conftest import run_script

from .client import ApiClient

pytestmark = pytest.mark.realclient

BIN = Path(sys.executable).parent
TIMEOUT = 120


def client_env(home: Path, url: str, access_key: str, secret_key: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLEARML_", "TRAINS_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        HOME=str(home),
        CLEARML_CONFIG_FILE=str(home / "clearml.conf"),
        CLEARML_API_HOST=url,
        CLEARML_WEB_HOST=url,
        CLEARML_FILES_HOST=url,
        CLEARML_API_ACCESS_KEY=access_key,
        CLEARML_API_SECRET_KEY=secret_key,
        CLEARML_OFFLINE_MODE="0",
        CLEARML_LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
        NO_PROXY="*",
    )
    env.update(extra)
    return env


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


SDK_SCRIPT = """
import json
from clearml import Task

task = Task.init(
    project_name="Stand-in/SDK",
    task_name="sdk-run",
    reuse_last_task_id=False,
    auto_connect_frameworks=False,
    auto_resource_monitoring=False,
)
logger = task.get_logger()
for i in range(5):
    logger.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
logger.report_text("hello from the stand-in test")
task_id = task.id
task.close()
print(json.dumps({"task": task_id}))
"""


def test_sdk_task_init_report_and_close_against_the_standin(clearml_upstream, home):
    standin = clearml_upstream
    alice = standin.create_user("Alice Example")
    key, secret = standin.create_credentials(alice, label="sdk")

    task_id = run_script(SDK_SCRIPT, client_env(home, standin.url, key, secret), home, timeout=TIMEOUT)[
        "task"
    ]

    task = standin.task(task_id)
    assert task["user"] == alice and task["company"] == standin.company_id
    assert task["status"] == "completed" and task["name"] == "sdk-run"
    project = standin.state.projects[task["project"]]
    assert project["name"] == "Stand-in/SDK" and project["basename"] == "SDK"
    scalars = standin.events_of(task_id, "training_stats_scalar")
    assert sorted(e["iter"] for e in scalars if e["metric"] == "loss") == [0, 1, 2, 3, 4]
    assert any("hello from the stand-in test" in e.get("msg", "") for e in standin.events_of(task_id, "log"))
    (loss,) = (v for m in task["last_metrics"].values() for v in m.values() if v["metric"] == "loss")
    assert loss["value"] == pytest.approx(0.2) and loss["count"] == 5
    # The SDK spoke to it as it speaks to the real server: versioned paths, its client header.
    create = standin.requests_for("tasks.create")[-1]
    assert create.requested_version and create.header("X-ClearML-Client", "").startswith("clearml-")
    assert not [r for r in standin.requests if r.status and r.status >= 500]


AGENT_TASK_SCRIPT = """
from clearml import Task
task = Task.init()
logger = task.get_logger()
for i in range(3):
    logger.report_scalar("metric", "series", value=i * 10, iteration=i)
print("AGENT TASK DONE", task.id, flush=True)
"""


def test_clearml_agent_registers_pulls_and_runs_a_task_from_a_standin_queue(clearml_upstream, home, tmp_path):
    standin = clearml_upstream
    alice = standin.create_user("Alice Example")
    agent_user = standin.create_user("Agent Service", role="admin")
    key, secret = standin.create_credentials(agent_user, label="agent")
    queue_id = standin.create_queue("pool-standin")

    # alice's task, as an SDK clone leaves it: no repository, the whole script in `diff`.
    alice_client = ApiClient(standin.url, token=standin.token_for(alice))
    project_id = alice_client.ok("projects.create", name="Agent Demo")["id"]
    task_id = alice_client.ok(
        "tasks.create",
        name="agent-run",
        type="training",
        project=project_id,
        script={
            "binary": "python3",
            "repository": "",
            "entry_point": "agent_task.py",
            "working_dir": ".",
            "diff": textwrap.dedent(AGENT_TASK_SCRIPT),
            "requirements": {"pip": "clearml\n"},
        },
    )["id"]
    alice_client.ok("tasks.enqueue", task=task_id, queue=queue_id)

    worker_id = "standin-agent:0"
    log_path = tmp_path / "agent.log"
    with log_path.open("w") as log:
        agent = subprocess.Popen(
            [str(BIN / "clearml-agent"), "daemon", "--queue", "pool-standin", "--foreground"],
            env=client_env(
                home,
                standin.url,
                key,
                secret,
                CLEARML_WORKER_ID=worker_id,
                CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL="1",
                CLEARML_AGENT_SKIP_PIP_VENV_INSTALL=sys.executable,
                CLEARML_AGENT_DISABLE_SSH_MOUNT="1",
                PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and agent.poll() is None:
                if (standin.task(task_id) or {}).get("status") in ("completed", "failed", "stopped"):
                    break
                time.sleep(0.5)
        finally:
            agent.send_signal(signal.SIGINT)
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
    output = log_path.read_text(errors="replace")

    registered = standin.requests_for("workers.register")
    assert registered and registered[0].json()["worker"] == worker_id, output[-4000:]
    assert registered[0].json()["queues"] == [queue_id]
    pulls = [r for r in standin.requests_for("queues.get_next_task") if r.json() == {"queue": queue_id}]
    assert pulls, output[-4000:]

    task = standin.task(task_id)
    assert task["status"] == "completed", output[-4000:]
    assert task["last_worker"] == worker_id
    assert task["user"] == alice  # the agent ran it; the owner stays alice
    assert standin.queue_entries(queue_id) == []
    series = [e for e in standin.events_of(task_id, "training_stats_scalar") if e["metric"] == "metric"]
    assert sorted(e["iter"] for e in series) == [0, 1, 2], output[-4000:]
    assert any("AGENT TASK DONE" in e.get("msg", "") for e in standin.events_of(task_id, "log"))
    assert standin.requests_for("workers.unregister"), "the agent unregisters on SIGINT"
    assert not [r for r in standin.requests if r.status and r.status >= 500], output[-4000:]
