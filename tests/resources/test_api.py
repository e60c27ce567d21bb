"""The resources API through the real stack (token, dispatcher, envelope): enqueue, agent fetch, complete/stop."""

import pytest

from access.models import GroupMembership, UserGroup
from accounts.services import user_create
from resources.models import Job, JobState
from resources.services.policies import QueueSpec, policy_create
from resources.services.scheduling import resource_management_set
from tests.api.conftest import Api, _fresh_api_state  # noqa: F401  (autouse fixture)
from workspaces.credentials import credential_create
from workspaces.models import Role
from workspaces.services import membership_add

from .helpers import provision_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    return Api(client)


def token_for(api, workspace, user):
    credential, secret = credential_create(workspace=workspace, actor=user, label="key")
    return api.login(credential.access_key, secret)


@pytest.fixture
def setup(workspace, owner, member):
    pools, profiles, _ = provision_config(
        workspace, owner, pools={"gpu": 4}, profiles={"4x": 4}, links=[("4x-gpu", "4x", "gpu")]
    )
    dev = UserGroup.objects.create(workspace=workspace, name="Dev")
    GroupMembership.objects.create(group=dev, user=member)
    policy = policy_create(
        workspace=workspace,
        actor=owner,
        name="Dev Team",
        group=dev,
        reservation=0,
        limit=8,
        queues=[QueueSpec(profile=profiles["4x"], name="dev-4x")],
    )
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    return {"pool": pools["gpu"], "queue": policy.queues.get()}


@pytest.fixture
def member_token(api, workspace, member):
    return token_for(api, workspace, member)


@pytest.fixture
def agent_token(api, workspace, owner):
    """A service account of the workspace (what an agent runs with)."""
    agent = user_create(email="agent@example.com", password=None, username="agent")
    agent.is_service_account = True
    agent.save(update_fields=["is_service_account"])
    membership_add(workspace=workspace, user=agent, role=Role.MEMBER, actor=owner)
    return token_for(api, workspace, agent)


def test_the_whole_flow(api, setup, member_token, agent_token, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        status, body = api.call(
            "tasks.enqueue", {"task": "abc123", "queue_name": "dev-4x"}, token=member_token
        )
        assert status == 200, body
        assert body["data"]["queued"] == 1 and body["meta"]["endpoint"]["name"] == "tasks.enqueue"
        status, body = api.call(
            "tasks.enqueue", {"task": "def456", "queue": str(setup["queue"].pk)}, token=member_token
        )
        assert status == 200, body
    first, second = Job.objects.get(task_id="abc123"), Job.objects.get(task_id="def456")
    assert (first.state, second.state) == (
        JobState.RUNNING,
        JobState.PENDING,
    )  # the pass ran after the commit

    status, body = api.call(
        "queues.get_next_task", {"queue": "gpu", "get_task_info": True}, token=agent_token
    )
    assert status == 200, body
    assert body["data"]["entry"]["task"] == "abc123"
    assert body["data"]["task_info"]["company"] == str(setup["queue"].workspace_id)
    status, body = api.call("queues.get_next_task", {"queue": str(setup["pool"].pk)}, token=agent_token)
    assert (status, body["data"]) == (200, {})  # nothing else admitted there

    with django_capture_on_commit_callbacks(execute=True):
        status, body = api.call("tasks.completed", {"task": "abc123"}, token=agent_token)
    assert status == 200 and body["data"]["fields"]["status"] == "completed"
    second.refresh_from_db()
    assert second.state == JobState.RUNNING  # the freed pool went to the next job
    with django_capture_on_commit_callbacks(execute=True):
        status, body = api.call("tasks.stopped", {"task": "def456"}, token=member_token)  # its owner
    assert status == 200 and body["data"]["job"]["status"] == "stopped"

    # A finished task can be queued again.
    status, body = api.call("tasks.enqueue", {"task": "abc123", "queue": "dev-4x"}, token=member_token)
    assert status == 200 and body["data"]["job"]["job"] == first.pk


def test_enqueue_needs_the_policys_group(api, workspace, setup, admin_member):
    token = token_for(api, workspace, admin_member)  # an admin, but not in Dev
    status, body = api.call("tasks.enqueue", {"queue": "dev-4x"}, token=token)
    assert status == 403 and body["meta"]["result_subcode"] == 20
    assert not Job.objects.exists()


def test_enqueue_errors(api, setup, member_token):
    status, body = api.call("tasks.enqueue", {}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 11)
    status, body = api.call("tasks.enqueue", {"queue": "nope"}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 10)
    api.call("tasks.enqueue", {"queue": "dev-4x", "task": "t1"}, token=member_token)
    status, body = api.call("tasks.enqueue", {"queue": "dev-4x", "task": "t1"}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 12)  # already queued
    assert Job.objects.filter(task_id="t1").count() == 1
    status, _ = api.call("tasks.enqueue", {"queue": "dev-4x"})
    assert status == 401


def test_agents_only(api, setup, member_token):
    for name, data in [
        ("queues.get_next_task", {"queue": "gpu"}),
        ("tasks.completed", {"task": "x"}),
    ]:
        status, body = api.call(name, data, token=member_token)
        assert status == 403, (name, body)


def test_stop_by_someone_else_is_refused(api, workspace, setup, member_token, admin_member):
    api.call("tasks.enqueue", {"queue": "dev-4x", "task": "mine"}, token=member_token)
    other = user_create(email="other@example.com", password=None, username="other")
    membership_add(workspace=workspace, user=other, role=Role.MEMBER, actor=admin_member)
    status, _ = api.call("tasks.stopped", {"task": "mine"}, token=token_for(api, workspace, other))
    assert status == 403
    assert Job.objects.get(task_id="mine").state == JobState.PENDING


def test_complete_a_job_that_is_not_running(api, setup, member_token, agent_token):
    api.call("tasks.enqueue", {"queue": "dev-4x", "task": "p"}, token=member_token)
    status, body = api.call("tasks.completed", {"task": "p"}, token=agent_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 12)
    status, body = api.call("tasks.completed", {"task": "unknown"}, token=agent_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 10)


def test_other_workspaces_jobs_are_invisible(api, owner, setup, member_token, agent_token):
    from workspaces.services import workspace_create

    api.call("tasks.enqueue", {"queue": "dev-4x", "task": "secret"}, token=member_token)
    other = workspace_create(owner=owner, name="Elsewhere")
    token = token_for(api, other, owner)
    status, _ = api.call("tasks.stopped", {"task": "secret"}, token=token)
    assert status == 400
    status, _ = api.call("queues.get_next_task", {"queue": "gpu"}, token=token)
    assert status == 400
    assert Job.objects.get(task_id="secret").state == JobState.PENDING
