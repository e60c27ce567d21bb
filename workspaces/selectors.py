from django.db.models import QuerySet

from .models import AuditEvent, Membership, Workspace


def current_membership_get(request) -> Membership | None:
    """The membership of the session's current workspace, else the personal one.

    A workspace the user has left (or was removed from) is never returned, so access
    through the session ends as soon as the membership is gone.
    """
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("workspace").filter(user=user)
    workspace_id = request.session.get("workspace_id")
    if workspace_id:
        membership = memberships.filter(workspace_id=workspace_id).first()
        if membership is not None:
            return membership
    return memberships.order_by("-workspace__is_personal", "joined_at").first()


def membership_list(*, user) -> QuerySet[Membership]:
    """USER's memberships, personal workspace first."""
    return (
        Membership.objects.select_related("workspace", "workspace__owner")
        .filter(user=user)
        .order_by("-workspace__is_personal", "workspace__name")
    )


def personal_workspace_get(*, user) -> Workspace | None:
    return Workspace.objects.filter(owner=user, is_personal=True).first()


def audit_event_list(*, workspace: Workspace, action: str = "", actor: str = "", query: str = "") -> QuerySet:
    events = AuditEvent.objects.for_workspace(workspace).select_related(None)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if query:
        events = events.filter(target_label__icontains=query)
    return events
