"""The seed's Example Workflow with real clients: members of Dev and Research enqueue with the real
`clearml` SDK through the live portal into the upstream stand-in, the scheduler admits as the seed
says, and a real `clearml-agent daemon --queue "4 GPU Low End"` (a service account's portal
credentials) pulls an admitted task and runs it to `completed`; the freed resources go to the next
pending task at once. `--use-owner-token`: the task runs as its owner, with the owner's vault.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from access import services as access_services
from resources.models import Job, JobState
from resources.services.scheduling import resource_management_set
from tests.gateway.test_realclients import (
    AGENT_TASK_SCRIPT,
    TIMEOUT,
    finished,
    run_agent,
    sdk_env,
    upstream_id,
)
from tests.upstream.client import ApiClient
from vaults import services as vault_services
from workspaces.credentials import credential_create

from .test_upstream import ids, team_member

pytestmark = [pytest.mark.realclient, pytest.mark.django_db(transaction=True)]

ENQUEUE_SCRIPT = """
import json, sys
from clearml import Task

for task_id in json.loads(sys.argv[1]):
    Task.enqueue(task_id, queue_name=sys.argv[2])
print(json.dumps({"enqueued": len(json.loads(sys.argv[1]))}))
"""


def make_tasks(api_url: str, key: str, secret: str, prefix: str, n: int) -> list[str]:
    """N runnable tasks of the key's owner (as an SDK clone leaves them: created, with a script)."""
    client = ApiClient(api_url, basic=(key, secret))
    client = ApiClient(api_url, token=client.ok("auth.login")["token"])
    project = client.ok("projects.create", name=f"{prefix} experiments")["id"]
    made = []
    for i in range(1, n + 1):
        made.append(
            client.ok(
                "tasks.create",
                name=f"{prefix}-job-{i}",
                type="training",
                project=project,
                script={
                    "binary": "python3",
                    "repository": "",
                    "entry_point": "agent_task.py",
                    "working_dir": ".",
                    "diff": textwrap.dedent(AGENT_TASK_SCRIPT),
                    "requirements": {"pip": "clearml\n"},
                },
            )["id"]
        )
    return made


def agent_home(home):
    path = home / "agent"
    path.mkdir(exist_ok=True)
    return path


def sdk_enqueue(home, api_url, key, secret, task_ids, queue_name) -> None:
    home.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ENQUEUE_SCRIPT), json.dumps(task_ids), queue_name],
        env=sdk_env(home, api_url, key, secret),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=home,
    )
    assert result.returncode == 0 and '"enqueued"' in result.stdout, f"{result.stdout}\n{result.stderr}"


@pytest.fixture
def enqueued(example, owner, portal_api, home):
    """Dev's and Research's four 4-GPU tasks each, enqueued with the real SDK (resource management
    off while they do, so one pass sees all eight as the seed has it), then management on."""
    resource_management_set(workspace=example, actor=owner, enabled=False)
    made = {}
    for who, group, queue in (("dana", "Dev", "4xgpu"), ("rick", "Research", "default research")):
        user = team_member(example, owner, who, group)
        credential, secret = credential_create(workspace=example, actor=user, label="laptop")
        made[who] = (user, make_tasks(portal_api, credential.access_key, secret, who, 4))
        sdk_enqueue(home / who, portal_api, credential.access_key, secret, made[who][1], queue)
    assert Job.objects.filter(upstream=True, state=JobState.PENDING).count() == 8
    resource_management_set(workspace=example, actor=owner, enabled=True)
    return made


def test_example_workflow_with_the_real_sdk_and_a_real_agent(
    example, owner, standin, portal_api, home, enqueued
):
    (_dana, dev), (_rick, research) = enqueued["dana"], enqueued["rick"]
    queues = ids(example)
    # The seed's admissions: Dev's first two on Bare Metal, Research's first two on H100.
    assert standin.queue_entries(queues["4 GPU Low End"]) == dev[:2]
    assert standin.queue_entries(queues["4 GPU H100"]) == research[:2]
    assert standin.queue_entries(queues["4xgpu"]) == dev[2:]
    assert standin.queue_entries(queues["default research"]) == research[2:]

    _account, credential, secret = access_services.service_account_create(
        workspace=example, actor=owner, name="bare-metal-agents"
    )
    output = run_agent(
        agent_home(home),
        portal_api,
        credential.access_key,
        secret,
        "4 GPU Low End",
        finished(standin, dev[0]),
    )
    assert standin.task(dev[0])["status"] == "completed", output[-4000:]
    first = Job.objects.get(task_id=dev[0])
    assert first.state == JobState.COMPLETED and first.fetched_at is not None
    # Its 4 GPUs went to Dev's third task at once: admitted and moved into the agent queue.
    third = Job.objects.get(task_id=dev[2])
    assert third.state == JobState.RUNNING and third.pool_name == "Bare Metal Low END GPUs"
    assert third.moved_at is not None and (third.moved_at - first.finished_at).total_seconds() < 1
    assert (
        dev[2] in standin.queue_entries(queues["4 GPU Low End"]) or standin.task(dev[2])["status"] != "queued"
    )
    assert not [r for r in standin.requests if r.status and r.status >= 500], output[-4000:]


def test_use_owner_token_runs_the_admitted_task_as_its_owner_with_the_owners_vault(
    example, owner, standin, portal_api, home, enqueued
):
    rick, research = enqueued["rick"]
    vault_services.user_vault_save(
        workspace=example, user=rick, actor=rick, fmt="hocon", content="sdk { owner_vault { answer: 42 } }"
    )
    vault_services.user_vault_set_enabled(workspace=example, user=rick, actor=rick, enabled=True)
    _account, credential, secret = access_services.service_account_create(
        workspace=example, actor=owner, name="h100-agents", allow_impersonation=True
    )
    output = run_agent(
        agent_home(home),
        portal_api,
        credential.access_key,
        secret,
        "4 GPU H100",
        finished(standin, research[0]),
        "--use-owner-token",
    )
    task = standin.task(research[0])
    assert task["status"] == "completed", output[-4000:]
    logs = " ".join(e.get("msg", "") for e in standin.events_of(research[0], "log"))
    assert "VAULT ANSWER 42" in logs, output[-4000:]
    by_task_process = [r for r in standin.requests_for("events.add_batch") if r.header("X-ClearML-Client")]
    assert {r.effective_identity.user for r in by_task_process} == {upstream_id(rick)}
    deadline = time.monotonic() + 5
    while Job.objects.get(task_id=research[2]).started_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Job.objects.get(task_id=research[0]).state == JobState.COMPLETED
    # The next one was admitted as soon as the H100s were freed. (The agent may already have
    # pulled it when the test stopped the daemon, which then aborts it: its state may have moved
    # on since, its admission stands.)
    assert Job.objects.get(task_id=research[2]).started_at is not None
