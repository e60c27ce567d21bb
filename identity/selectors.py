from django.conf import settings

from workspaces.models import Workspace

from .models import IdentityConnection


def connection_list(*, workspace: Workspace):
    """The workspace's connections, by name."""
    return IdentityConnection.objects.for_workspace(workspace).order_by("name")


def sign_in_connections(*, workspace_slug: str | None = None):
    """Enabled connections offered on the sign-in page.

    In single-workspace mode (a self-hosted install) every enabled connection is offered.
    With several workspaces, a workspace's connections appear only on its own sign-in
    link (`/accounts/login/?workspace=<slug>`), so one workspace's admin can never put a
    "Sign in with ..." button in front of another workspace's users.
    """
    connections = IdentityConnection.objects.dangerously_all().filter(enabled=True)
    if not settings.PORTAL_SINGLE_WORKSPACE:
        if not workspace_slug:
            return connections.none()
        connections = connections.filter(workspace__slug=workspace_slug)
    return connections.select_related("workspace").order_by("name")
