import pytest


@pytest.fixture
def groups(workspace):
    """The workspace's built-in groups by key: users, admins, queue_admins."""
    from access.selectors import builtin_groups

    return builtin_groups(workspace=workspace)
