import datetime as dt
import operator
from functools import reduce

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from .credentials import credential_list
from .models import AuditEvent, Credential, Invitation, Membership, Notification, Role, Workspace


def membership_find(*, workspace: Workspace, user) -> Membership | None:
    """USER's membership of WORKSPACE, or None (not a member, or no user)."""
    if user is None or getattr(user, "pk", None) is None:
        return None
    return Membership.objects.for_workspace(workspace).select_related("workspace").filter(user=user).first()


def is_member(*, workspace: Workspace, user) -> bool:
    return Membership.objects.for_workspace(workspace).filter(user=user).exists()


def admin_count(*, workspace: Workspace) -> int:
    """How many members administer WORKSPACE (the owner included)."""
    return Membership.objects.for_workspace(workspace).admins().count()


def seat_count(*, workspace: Workspace, exclude_email: str = "") -> int:
    """What counts against Workspace.max_members: memberships (service accounts included) and
    pending invitations (but the one of EXCLUDE_EMAIL, which a new invitation would replace)."""
    members = Membership.objects.for_workspace(workspace).count()
    pending = Invitation.objects.for_workspace(workspace).pending()
    if exclude_email:
        pending = pending.exclude(email__iexact=exclude_email)
    return members + pending.count()


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


def landing_membership_get(*, user) -> Membership | None:
    """The membership sign-in lands in: the workspace USER used last, else the one with the
    most recent activity (an audit event, or any member active there), else the personal one.

    One query, run once per sign-in: each workspace's latest activity is read through the
    (workspace, -created_at) audit index and the workspace's memberships.
    """
    latest_event = AuditEvent.objects.filter(workspace=OuterRef("workspace_id")).order_by("-created_at")
    latest_member = Membership.objects.filter(
        workspace=OuterRef("workspace_id"), last_active__isnull=False
    ).order_by("-last_active")
    memberships = list(
        Membership.objects.select_related("workspace")
        .filter(user=user)
        .annotate(
            latest_event_at=Subquery(latest_event.values("created_at")[:1]),
            latest_member_at=Subquery(latest_member.values("last_active")[:1]),
        )
        .order_by("-workspace__is_personal", "joined_at")  # ties: the personal one, then the oldest
    )
    if not memberships:
        return None
    used = [m for m in memberships if m.last_used_at is not None]
    if used:
        return max(used, key=lambda m: m.last_used_at)

    def activity(membership: Membership):
        stamps = [s for s in (membership.latest_event_at, membership.latest_member_at) if s is not None]
        return max(stamps) if stamps else None

    active = [m for m in memberships if activity(m) is not None]
    if active:
        return max(active, key=activity)  # max keeps the first of equals: the personal one
    return memberships[0]


def membership_list(*, user) -> QuerySet[Membership]:
    """USER's memberships, personal workspace first."""
    return (
        Membership.objects.select_related("workspace", "workspace__owner")
        .filter(user=user)
        .order_by("-workspace__is_personal", "workspace__name")
    )


def personal_workspace_get(*, user) -> Workspace | None:
    return Workspace.objects.filter(owner=user, is_personal=True).first()


def audit_event_list(
    *,
    workspace: Workspace,
    action: str = "",
    actor: str = "",
    query: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    """WORKSPACE's audit rows, newest first, filtered: ACTION by its start ("credential" or
    "credential.revoke"), ACTOR in the actor's or the impersonated user's label, QUERY in the
    object's label, SINCE and UNTIL whole days (inclusive) of the portal's time zone."""
    events = AuditEvent.objects.for_workspace(workspace).select_related(None)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(Q(actor_label__icontains=actor) | Q(on_behalf_of_label__icontains=actor))
    if query:
        events = events.filter(target_label__icontains=query)
    if since:
        events = events.filter(created_at__gte=_day_start(since))
    if until:
        events = events.filter(created_at__lt=_day_start(until + dt.timedelta(days=1)))
    return events


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_filter_choices(*, workspace: Workspace) -> dict[str, list[str]]:
    """The actions and actors that occur in WORKSPACE's log (two queries), for the filters."""
    events = AuditEvent.objects.for_workspace(workspace).order_by()
    return {
        "actions": sorted(events.values_list("action", flat=True).distinct()),
        "actors": sorted(events.values_list("actor_label", flat=True).distinct(), key=str.lower),
    }


def member_list(*, workspace_ids) -> QuerySet[Membership]:
    """Active members of the workspaces in WORKSPACE_IDS (one query whatever their number):
    owners first, then admins, then members, oldest first."""
    return (
        Membership.objects.select_related("user")
        .filter(workspace_id__in=list(workspace_ids))
        .order_by("workspace_id", "-role", "joined_at", "user__email")
    )


def invitation_pending_list(*, memberships) -> QuerySet[Invitation]:
    """Pending (unused, unexpired, not cancelled) invitations the holder of MEMBERSHIPS may see:
    those of the workspaces they administer. A plain member never sees who else was invited."""
    administered = [m.workspace_id for m in memberships if m.role >= Role.ADMIN]
    return (
        Invitation.objects.pending()
        .select_related("invited_by")
        .filter(workspace_id__in=administered)
        .order_by("workspace_id", "email")
    )


def credential_list_for_memberships(*, viewer, memberships) -> QuerySet[Credential]:
    """The credentials VIEWER may see in each of MEMBERSHIPS' workspaces, in one query.

    The per-workspace rule is `credentials.credential_list`'s; the querysets are OR-ed together.
    """
    querysets = [
        credential_list(workspace=membership.workspace, viewer=viewer, membership=membership)
        for membership in memberships
    ]
    if not querysets:
        return Credential.objects.none()
    return reduce(operator.or_, querysets).order_by("workspace_id", "-created_at", "-id")


def notification_list(*, user) -> QuerySet[Notification]:
    """USER's notifications, newest first."""
    return Notification.objects.filter(user=user).select_related(None)


def notification_unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
