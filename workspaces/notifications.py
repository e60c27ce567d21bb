"""In-app notifications: the bell in the top bar and the /notifications/ page.

Notifications are messages to people, not administrative changes, so marking them
read is not audit-logged; what caused them (an invitation, a join) is.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import Membership, Notification, Role, Workspace

MAX_MESSAGE_LENGTH = Notification._meta.get_field("message").max_length


def notify(*, users: Iterable, message: str, url: str = "", workspace: Workspace | None = None) -> int:
    """Send MESSAGE to each of USERS (one insert whatever their number). Returns how many were sent."""
    now = timezone.now()
    rows = [
        Notification(
            user=user, workspace=workspace, message=message[:MAX_MESSAGE_LENGTH], url=url, created_at=now
        )
        for user in users
    ]
    Notification.objects.bulk_create(rows)
    return len(rows)


def notify_members(
    *, workspace: Workspace, message: str, url: str = "", exclude=(), min_role: Role = Role.MEMBER
) -> int:
    """Notify the members of WORKSPACE with at least MIN_ROLE, except the users in EXCLUDE."""
    excluded = [user.pk for user in exclude if user is not None and getattr(user, "pk", None)]
    users = [
        membership.user
        for membership in Membership.objects.for_workspace(workspace)
        .filter(role__gte=min_role)
        .exclude(user_id__in=excluded)
        .select_related("user")
    ]
    return notify(users=users, message=message, url=url, workspace=workspace)


@transaction.atomic
def notification_mark_read(*, user, notification: Notification) -> Notification:
    if notification.user_id != user.pk:  # callers look it up among USER's; this is a second lock
        raise Notification.DoesNotExist
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
