import pytest
from django.core.cache import cache

from access import services
from workspaces import invitations
from workspaces.models import Role


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
