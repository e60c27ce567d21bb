from workspaces.models import Workspace

from .models import IdentityConnection


def connection_list(*, workspace: Workspace):
    """The workspace's connections, by name."""
    return IdentityConnection.objects.for_workspace(workspace).order_by("name")


def sign_in_connections():
    """Enabled connections of every workspace, for the sign-in page's buttons."""
    return (
        IdentityConnection.objects.dangerously_all()
        .filter(enabled=True)
        .select_related("workspace")
        .order_by("name")
    )
