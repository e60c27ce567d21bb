import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.IntegerChoices):
    """Workspace roles, ordered: a higher value includes every right of a lower one."""

    MEMBER = 10, "Member"
    ADMIN = 20, "Admin"
    OWNER = 30, "Owner"


class WorkspaceQuerySet(models.QuerySet):
    def for_user(self, user):
        """Workspaces USER is an active member of."""
        return self.filter(memberships__user=user)


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64, unique=True)
    # Every user has exactly one personal workspace; it cannot be left.
    is_personal = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_workspaces"
    )
    # Plan limit on members (Users & Groups shows "N of M"); empty = unlimited.
    max_members = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TenantQuerySet(models.QuerySet):
    """Base queryset for every workspace-scoped model: lookups start from `for_workspace`."""

    def for_workspace(self, workspace: Workspace):
        return self.filter(workspace=workspace)

    def dangerously_all(self):
        """Every workspace's rows. Only for operator commands and background jobs."""
        return self.all()


class Membership(models.Model):
    """An active member of a workspace. Pending members are open `Invitation`s."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)
    last_active = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique")]
        indexes = [models.Index(fields=["user", "workspace"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN


class AuditEvent(models.Model):
    """One administrative change: who did what to which object, when, before and after.

    Rows are never updated or deleted by the portal. The actor is kept as text too
    so the log still reads correctly after the actor's account is gone.
    """

    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"
