"""The real `clearml` SDK and `clearml-agent`, with portal credentials, through the live portal into
the upstream stand-in: what they log lands upstream under the mapped users, agents pull and run
tasks, and `--use-owner-token` runs a task as its owner with the owner's vaults.

Each client runs in its own process with a scrubbed environment (tests/realclient/conftest.py).
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

from access import services as access_services
from accounts import api as accounts_api
from gateway import cache
from gateway.models import UpstreamUser
from settings_portal.api import authentication
from tests.realclient.conftest import clean_env, run_script
from tests.upstream.client import ApiClient
from vaults import services as vault_services
from workspaces import revocation
from workspaces.credentials import credential_create

from .conftest import link
from .test_forwarding import claims_of

pytestmark = [pytest.mark.realclient, pytest.mark.django_db(transaction=True)]

BIN = Path(sys.executable).parent
TIMEOUT = 150


@pytest.fixture
def portal_api(live_portal, settings):
    """The live portal's API URL, with fresh per-process caches."""
    settings.PORTAL_BASE_URL = live_portal.url
    settings.PORTAL_API_URL = f"{live_portal.url}/api"
    settings.PORTAL_UPSTREAM_READ_TIMEOUT = 30.0
    revocation.reset()
    cache.reset()
    authentication.reset_last_used_throttle()
    accounts_api.profile_cache_clear()
    yield settings.PORTAL_API_URL
    cache.reset()
    revocation.reset()


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def linked_standin(standin, workspace, owner, portal_api):
    link(workspace, standin, owner)
    return standin


def upstream_id(user, standin_link=None) -> str:
    return UpstreamUser.objects.get(user=user).upstream_id


def sdk_env(home: Path, api_url: str, key: str, secret: str, **extra: str) -> dict[str, str]:
    return clean_env(
        home,
        CLEARML_API_HOST=api_url,
        CLEARML_WEB_HOST=api_url.rsplit("/api", 1)[0],
        CLEARML_FILES_HOST=api_url.rsplit("/api", 1)[0],
        CLEARML_API_ACCESS_KEY=key,
        CLEARML_API_SECRET_KEY=secret,
        CLEARML_OFFLINE_MODE="0",
        **extra,
    )


SDK_SCRIPT = """
import json
from clearml import Task

task = Task.init(
    project_name="Gateway/SDK",
    task_name="through-the-portal",
    reuse_last_task_id=False,
    auto_connect_frameworks=False,
    auto_resource_monitoring=False,
)
logger = task.get_logger()
for i in range(5):
    logger.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
logger.report_text("hello through the portal")
task_id = task.id
task.close()
print(json.dumps({"task": task_id}))
"""


def test_sdk_task_init_report_and_close_through_the_portal(
    linked_standin, portal_api, workspace, member, home
):
    standin = linked_standin
    credential, secret = credential_create(workspace=workspace, actor=member, label="sdk")
    env = sdk_env(home, portal_api, credential.access_key, secret)
    task_id = run_script(SDK_SCRIPT, env, home, timeout=TIMEOUT)["task"]

    mapped = upstream_id(member)
    task = standin.task(task_id)
    assert task["user"] == mapped and task["company"] == standin.company_id
    assert task["status"] == "completed" and task["name"] == "through-the-portal"
    assert standin.state.projects[task["project"]]["name"] == "Gateway/SDK"
    scalars = standin.events_of(task_id, "training_stats_scalar")
    assert sorted(e["iter"] for e in scalars if e["metric"] == "loss") == [0, 1, 2, 3, 4]
    assert any("hello through the portal" in e.get("msg", "") for e in standin.events_of(task_id, "log"))
    # Every call that reached the upstream carried an upstream token of the mapped user, never
    # the portal's token; the SDK's own login and profile were the portal's.
    client_calls = [r for r in standin.requests if r.header("X-ClearML-Client")]
    assert client_calls and {r.effective_identity.user for r in client_calls} == {mapped}
    assert not {r.endpoint for r in client_calls} & {"auth.login", "users.get_current_user"}
    assert not [r for r in standin.requests if r.status and r.status >= 500]


AGENT_TASK_SCRIPT = """
from clearml import Task
task = Task.init()
logger = task.get_logger()
for i in range(3):
    logger.report_scalar("metric", "series", value=i * 10, iteration=i)
answer = task.session.config.get("sdk.owner_vault.answer", None)
print("VAULT ANSWER", answer, flush=True)
print("AGENT TASK DONE", task.id, flush=True)
"""


def agent_conf(home: Path, api_url: str, key: str, secret: str) -> None:
    web = api_url.rsplit("/api", 1)[0]
    (home / "clearml.conf").write_text(
        textwrap.dedent(
            f"""
            api {{
              api_server: {api_url}
              web_server: {web}/
              files_server: {web}:8081
              credentials {{
                "access_key" = "{key}"
                "secret_key" = "{secret}"
              }}
            }}
            """
        )
    )


# Unique per test process: the agent keeps a lock per worker id on the machine, so two test
# processes (pytest -n 2) with one id would stop each other's agent.
AGENT_WORKER_ID = f"gateway-agent-{os.getpid()}:0"


def run_agent(home: Path, api_url: str, key: str, secret: str, queue: str, until, *extra_args: str) -> str:
    """Run `clearml-agent daemon --queue QUEUE --foreground` until UNTIL() or the timeout; its output."""
    agent_conf(home, api_url, key, secret)
    log_path = home / "agent.log"
    env = clean_env(
        home,
        CLEARML_WORKER_ID=AGENT_WORKER_ID,
        CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL="1",
        CLEARML_AGENT_SKIP_PIP_VENV_INSTALL=sys.executable,
        CLEARML_AGENT_DISABLE_SSH_MOUNT="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    with log_path.open("w") as log:
        agent = subprocess.Popen(
            [str(BIN / "clearml-agent"), "daemon", "--queue", queue, "--foreground", *extra_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            # Checked often: the daemon pulls its queue's next task as soon as one ends, and a
            # SIGINT that reaches it during a task only aborts that task (the daemon goes on).
            while time.monotonic() < deadline and agent.poll() is None and not until():
                time.sleep(0.1)
        finally:
            agent.send_signal(signal.SIGINT)
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
    return log_path.read_text(errors="replace")


def members_task(api_url: str, workspace, member, queue_id: str) -> str:
    """The member's task, made and enqueued through the portal as an SDK clone leaves it."""
    credential, secret = credential_create(workspace=workspace, actor=member, label="laptop")
    client = ApiClient(api_url, basic=(credential.access_key, secret))
    token = client.ok("auth.login")["token"]
    client = ApiClient(api_url, token=token)
    project_id = client.ok("projects.create", name="Agent Demo")["id"]
    task_id = client.ok(
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
    client.ok("tasks.enqueue", task=task_id, queue=queue_id)
    return task_id


def finished(standin, task_id):
    return lambda: (standin.task(task_id) or {}).get("status") in ("completed", "failed", "stopped")


def test_clearml_agent_with_service_account_credentials_runs_a_task_to_completed(
    linked_standin, portal_api, workspace, owner, member, home
):
    standin = linked_standin
    account, credential, secret = access_services.service_account_create(
        workspace=workspace, actor=owner, name="gpu-agents"
    )
    queue_id = standin.create_queue("pool-gateway")
    task_id = members_task(portal_api, workspace, member, queue_id)

    output = run_agent(
        home, portal_api, credential.access_key, secret, "pool-gateway", finished(standin, task_id)
    )

    task = standin.task(task_id)
    assert task["status"] == "completed", output[-4000:]
    assert task["last_worker"] == AGENT_WORKER_ID
    assert task["user"] == upstream_id(member)  # the agent ran it; the owner stays the member
    agent_upstream = upstream_id(account.user)
    registered = standin.requests_for("workers.register")
    assert registered and registered[0].json()["queues"] == [queue_id], output[-4000:]
    assert registered[0].effective_identity.user == agent_upstream  # provisioned before it registered
    assert registered[0].effective_identity.role == "user"
    series = [e for e in standin.events_of(task_id, "training_stats_scalar") if e["metric"] == "metric"]
    assert sorted(e["iter"] for e in series) == [0, 1, 2], output[-4000:]
    logs = " ".join(e.get("msg", "") for e in standin.events_of(task_id, "log"))
    assert "AGENT TASK DONE" in logs
    assert "VAULT ANSWER None" in logs  # the agent's own identity: no owner vault
    assert standin.requests_for("workers.unregister")
    assert not [r for r in standin.requests if r.status and r.status >= 500], output[-4000:]


def test_clearml_agent_use_owner_token_runs_the_task_as_its_owner_with_the_owners_vault(
    linked_standin, portal_api, workspace, owner, member, home
):
    standin = linked_standin
    vault_services.user_vault_save(
        workspace=workspace,
        user=member,
        actor=member,
        fmt="hocon",
        content="sdk { owner_vault { answer: 42 } }",
    )
    vault_services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    account, credential, secret = access_services.service_account_create(
        workspace=workspace, actor=owner, name="owner-agents", allow_impersonation=True
    )
    queue_id = standin.create_queue("pool-owners")
    task_id = members_task(portal_api, workspace, member, queue_id)

    output = run_agent(
        home,
        portal_api,
        credential.access_key,
        secret,
        "pool-owners",
        finished(standin, task_id),
        "--use-owner-token",
    )

    task = standin.task(task_id)
    assert task["status"] == "completed", output[-4000:]
    logs = " ".join(e.get("msg", "") for e in standin.events_of(task_id, "log"))
    assert "VAULT ANSWER 42" in logs, output[-4000:]  # the owner's vault, served by the portal
    owner_upstream, agent_upstream = upstream_id(member), upstream_id(account.user)
    # The task process's own calls went upstream as the owner (role user), the daemon's as the agent.
    by_task_process = [r for r in standin.requests_for("events.add_batch") if r.header("X-ClearML-Client")]
    assert by_task_process and {r.effective_identity.user for r in by_task_process} == {owner_upstream}
    assert {
        claims_of(r.header("Authorization").split(" ", 1)[1])["identity"]["role"] for r in by_task_process
    } == {"user"}
    assert standin.requests_for("workers.register")[0].effective_identity.user == agent_upstream
    assert not [r for r in standin.requests if r.status and r.status >= 500], output[-4000:]
