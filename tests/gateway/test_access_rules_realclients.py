"""Access Rules with the real `clearml` SDK and `clearml-agent` through the live portal (issue 12):
bob, restricted from alice's project, does not see it in Task.get_tasks()/Task.get_task() and
cannot Task.init into it; a Read Only user cannot edit a task; an agent's service account without
access to a queue cannot serve it."""

from __future__ import annotations

import pytest

from access import services as access_services
from access import upstream
from access.services import rule_create
from tests.factories import UserFactory
from tests.realclient.conftest import run_script
from tests.upstream.client import ApiClient
from workspaces.credentials import credential_create
from workspaces.models import Membership, Role

from . import test_realclients as realclients
from .test_realclients import TIMEOUT, run_agent, sdk_env

# The live portal linked to a stand-in, as the other real-client tests have it.
portal_api = realclients.portal_api
linked_standin = realclients.linked_standin

pytestmark = [pytest.mark.realclient, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_trees():
    upstream.reset()
    yield
    upstream.reset()


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def bob(workspace):
    user = UserFactory(email="bob@example.com", username="bob")
    Membership.objects.create(workspace=workspace, user=user, role=Role.MEMBER)
    return user


def client_for(api_url, workspace, user) -> ApiClient:
    credential, secret = credential_create(workspace=workspace, actor=user, label="script")
    token = ApiClient(api_url, basic=(credential.access_key, secret)).ok("auth.login")["token"]
    return ApiClient(api_url, token=token)


def run_sdk(home, api_url, workspace, user, script: str) -> dict:
    credential, secret = credential_create(workspace=workspace, actor=user, label="sdk")
    env = sdk_env(home, api_url, credential.access_key, secret)
    return run_script(script, env, home, timeout=TIMEOUT, check_exit=False)


BOB_SCRIPT = """
import json
from clearml import Task

out = {}
out["all_tasks"] = sorted(t.name for t in Task.get_tasks())
try:
    out["in_project"] = sorted(t.name for t in Task.get_tasks(project_name="Alice Project"))
except Exception as exc:
    out["in_project"] = "error: " + type(exc).__name__
try:
    Task.get_task(task_id="%(task)s")
    out["get_task"] = "found"
except Exception as exc:
    out["get_task"] = "error: " + type(exc).__name__
try:
    task = Task.init(
        project_name="Alice Project",
        task_name="bob-was-here",
        reuse_last_task_id=False,
        auto_connect_frameworks=False,
        auto_resource_monitoring=False,
    )
    out["init"] = task.get_project_name()
    task.close()
except Exception as exc:
    out["init"] = "error: " + type(exc).__name__
print(json.dumps(out))
"""


def test_bob_restricted_from_alices_project_neither_sees_nor_writes_into_it(
    linked_standin, portal_api, workspace, owner, member, bob, home
):
    standin, alice = linked_standin, member
    client = client_for(portal_api, workspace, alice)
    project = client.ok("projects.create", name="Alice Project")["id"]
    task = client.ok("tasks.create", name="alice-secret", type="training", project=project)["id"]
    other = client.ok("projects.create", name="Shared Project")["id"]
    client.ok("tasks.create", name="shared-task", type="training", project=other)
    rule_create(
        workspace=workspace,
        actor=owner,
        resource_type="project",
        object_id=project,
        permission="read_modify",
        user_ids=[alice.pk],
    )

    out = run_sdk(home, portal_api, workspace, bob, BOB_SCRIPT % {"task": task})

    assert "alice-secret" not in out["all_tasks"] and "shared-task" in out["all_tasks"], out
    assert out["in_project"] == [] or str(out["in_project"]).startswith("error"), out
    assert out["get_task"].startswith("error"), out
    assert out["init"] != "Alice Project", out
    in_alices_project = [t["name"] for t in standin.tasks() if t.get("project") == project]
    assert in_alices_project == ["alice-secret"]  # bob created nothing there


READ_ONLY_SCRIPT = """
import json
from clearml import Task

out = {}
task = Task.get_task(task_id="%(task)s")
out["name"] = task.name
try:
    task.set_comment("bob edited this")
    out["edit"] = "done"
except Exception as exc:
    out["edit"] = "error: " + str(exc)[:300]
print(json.dumps(out))
"""


def test_a_read_only_user_reads_a_task_and_cannot_edit_it(
    linked_standin, portal_api, workspace, owner, member, bob, home
):
    standin = linked_standin
    client = client_for(portal_api, workspace, member)
    project = client.ok("projects.create", name="Reviewed")["id"]
    task = client.ok("tasks.create", name="reviewed-task", type="training", project=project)["id"]
    rule_create(
        workspace=workspace,
        actor=owner,
        resource_type="task",
        object_id=task,
        permission="read",
        user_ids=[bob.pk],
    )

    out = run_sdk(home, portal_api, workspace, bob, READ_ONLY_SCRIPT % {"task": task})

    assert out["name"] == "reviewed-task", out
    assert standin.task(task).get("comment", "") != "bob edited this", out
    refused = [r for r in standin.requests_for("tasks.edit")]
    assert not refused  # the edit never reached the server


def test_an_agent_without_access_to_its_queue_cannot_serve_it(
    linked_standin, portal_api, workspace, owner, member, home
):
    standin = linked_standin
    _account, credential, secret = access_services.service_account_create(
        workspace=workspace, actor=owner, name="gpu-agents"
    )
    queue_id = standin.create_queue("pool-private")
    client = client_for(portal_api, workspace, member)
    task = client.ok("tasks.create", name="queued-task", type="training")["id"]
    client.ok("tasks.enqueue", task=task, queue=queue_id)
    rule_create(
        workspace=workspace,
        actor=owner,
        resource_type="queue",
        object_id=queue_id,
        permission="read_modify",
        user_ids=[member.pk],
    )
    standin.clear_requests()

    served = lambda: standin.task(task)["status"] != "queued"  # noqa: E731
    output = run_agent(home, portal_api, credential.access_key, secret, "pool-private", served)

    assert standin.task(task)["status"] == "queued", output[-3000:]
    assert standin.queue_entries(queue_id) == [task]
    assert not standin.requests_for("queues.get_next_task"), output[-3000:]
    assert not standin.requests_for("tasks.started")
