"""The one way into workspace-scoped data.

Every workspace-scoped view is wrapped in `workspace_view`, every workspace-scoped
lookup starts from `Model.objects.for_workspace(request.workspace)`. A user who is
not a member of the workspace gets 404 (we do not confirm that it exists); a member
below the required role gets 403.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from .models import Membership, Role, Workspace


class WorkspaceRequest(HttpRequest):
    """An HttpRequest after `workspace_view`: for type hints only."""

    workspace: Workspace
    membership: Membership


def membership_get(*, user, workspace_slug: str) -> Membership:
    """USER's membership of the workspace with that slug, or Http404."""
    if not user.is_authenticated:
        raise Http404("No such workspace")
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__slug=workspace_slug)
        .first()
    )
    if membership is None:
        raise Http404("No such workspace")
    return membership


class RoleRequired(PermissionDenied):
    """A member below the role a view needs; the 403 page names the role and the admins."""

    def __init__(self, membership: Membership, role: Role):
        self.membership = membership
        self.role = role
        super().__init__(f"This needs the {Role(role).label} role in {membership.workspace.name}.")


def require_role(membership: Membership, role: Role) -> None:
    if membership.role < role:
        raise RoleRequired(membership, role)


def workspace_view(role: Role = Role.MEMBER, *, make_current: bool = True) -> Callable:
    """Decorate a view taking `workspace_slug`: loads `request.workspace`/`request.membership`.

    Non-members get 404, members below ROLE get 403. With MAKE_CURRENT the workspace
    becomes the session's current workspace, so the sidebar follows where the user is;
    the Workspace page's panels pass False (acting in a panel is not switching to it).
    """

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, workspace_slug: str, *args, **kwargs):
            membership = membership_get(user=request.user, workspace_slug=workspace_slug)
            require_role(membership, role)
            request.workspace = membership.workspace
            request.membership = membership
            if make_current:
                request.current_membership = membership
                if request.session.get("workspace_id") != str(membership.workspace_id):
                    request.session["workspace_id"] = str(membership.workspace_id)
            return view(request, *args, **kwargs)

        wrapped.required_role = role  # read by the URL × role test
        return wrapped

    return decorator
