import pytest
from django.core.cache import cache

from access import services
from access.models import GroupMembership, UserGroup
from accounts.services import user_create
from resources.models import Job
from resources.services.policies import QueueSpec, policy_create
from resources.services.scheduling import resource_management_set
from tests.resources.helpers import provision_config
from workspaces import invitations
from workspaces.models import Role
from workspaces.services import membership_add


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def service_account(workspace, owner):
    """A service account of `workspace` with impersonation allowed, and its first key pair."""
    account, credential, secret = services.service_account_create(
        workspace=workspace, actor=owner, name="gpu-agents", allow_impersonation=True
    )
    account.first_credential, account.first_secret = credential, secret
    return account


@pytest.fixture
def plain_service_account(workspace, owner):
    account, credential, secret = services.service_account_create(
        workspace=workspace, actor=owner, name="ci-bot", allow_impersonation=False
    )
    account.first_credential, account.first_secret = credential, secret
    return account


@pytest.fixture
def invitation(workspace, owner):
    return invitations.invitation_create(
        workspace=workspace, actor=owner, email="newcomer@example.com", role=Role.MEMBER
    ).invitation


@pytest.fixture
def custom_group(workspace, owner, member):
    return services.group_create(
        workspace=workspace,
        actor=owner,
        name="Researchers",
        description="ML research",
        member_ids=[member.pk],
    )


@pytest.fixture
def setup(workspace, owner, member):
    _, profiles, _ = provision_config(
        workspace, owner, pools={"gpu": 4}, profiles={"4x": 4}, links=[("4x-gpu", "4x", "gpu")]
    )
    dev = UserGroup.objects.create(workspace=workspace, name="Dev")
    GroupMembership.objects.create(group=dev, user=member)
    queues = {}
    for name in ("dev-4x", "other-4x"):
        policy = policy_create(
            workspace=workspace,
            actor=owner,
            name=f"policy {name}",
            group=dev,
            reservation=0,
            limit=8,
            queues=[QueueSpec(profile=profiles["4x"], name=name)],
        )
        queues[name] = policy.queues.get()
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    jobs = {
        name: Job.objects.create(
            workspace=workspace, name=name, task_id=name, queue=queues["dev-4x"], queue_name="dev-4x"
        )
        for name in ("job-a", "job-b")
    }
    return {"queue": queues["dev-4x"], "other": queues["other-4x"], "jobs": jobs, "dev": dev}


@pytest.fixture
def stranger(workspace, owner):
    """A second plain member, in no group."""
    user = user_create(email="stranger@example.com", password=None, username="stranger")
    membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=owner)
    return user
