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


class MembershipQuerySet(TenantQuerySet):
    def admins(self):
        """Memberships with the administrator role or above (the owner included)."""
        return self.filter(role__gte=Role.ADMIN)


class Membership(models.Model):
    """An active member of a workspace. Pending members are open `Invitation`s.

    Rows are written only by workspaces.services (membership_add, membership_role_set,
    membership_remove); other apps read them through workspaces.selectors or this queryset.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)
    last_active = models.DateTimeField(null=True, blank=True)
    # When the user last made this their current workspace: sign-in lands in the latest one.
    # Written only when the session's current workspace changes (ActivityMiddleware).
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = MembershipQuerySet.as_manager()

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
    # Set when the actor acted through an impersonated token: ACTOR is the service account (or
    # administrator) that impersonated, ON_BEHALF_OF the user whose identity the token carried.
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    on_behalf_of_label = models.CharField(max_length=254, blank=True)
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


class CredentialQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class Credential(models.Model):
    """A ClearML access/secret key pair of USER for WORKSPACE.

    Only a keyed hash of the secret is stored (settings_portal.crypto.keyed_hash); the
    plain secret is shown once at creation. Revoked credentials stay as rows (the
    audit trail and the API's "blocked token" answer need them) but never authenticate.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    # The identity the key pair authenticates as (a person, or later a service account).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    access_key = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=64)
    label = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_from = models.CharField(max_length=255, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "user"])]

    def __str__(self) -> str:
        return self.access_key

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class InvitationQuerySet(TenantQuerySet):
    def pending(self):
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """A pending member: an email invited to a workspace.

    The link's token is stored as a keyed hash; it works once and expires.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "email"])]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.workspace}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class Notification(models.Model):
    """An in-app notification (the bell in the top bar)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.CharField(max_length=500)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.message
