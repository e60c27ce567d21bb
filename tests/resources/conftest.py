import pytest


@pytest.fixture
def groups(workspace):
    """The workspace's built-in groups by key: users, admins, queue_admins."""
    from access.selectors import builtin_groups_ensure

    return builtin_groups_ensure(workspace=workspace)
