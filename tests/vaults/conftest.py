import pytest

from access.models import GroupMembership, UserGroup
from access.selectors import builtin_groups

# The browser journey (test_e2e_vaults.py) uses the e2e browser settings and the live
# portal + SDK runner of the real-client tests.
from tests.e2e.conftest import browser_context_args, browser_type_launch_args  # noqa: F401
from tests.realclient.conftest import portal, run_sdk, sdk_home  # noqa: F401


@pytest.fixture
def groups(workspace):
    """The workspace's built-in groups by key: users, admins, queue_admins."""
    return builtin_groups(workspace=workspace)


@pytest.fixture
def make_group(workspace):
    def make(name, *users, ws=None):
        group = UserGroup.objects.create(workspace=ws or workspace, name=name)
        for user in users:
            GroupMembership.objects.create(group=group, user=user)
        return group

    return make


@pytest.fixture
def research(make_group, member):
    """A custom group `member` belongs to."""
    return make_group("Research", member)
