from django.conf import settings
from django.db import models
from django.utils import timezone

from settings_portal.names import UniqueNameModel
from workspaces.models import TenantQuerySet, Workspace


class BuiltinGroup(models.TextChoices):
    """The three groups every workspace has; they cannot be deleted."""

    USERS = "users", "Users"  # everyone, service accounts included; implicit, cannot be modified
    ADMINS = "admins", "Admins"  # administer the workspace
    QUEUE_ADMINS = "queue_admins", "Queue admins"  # create, delete, rename queues


BUILTIN_DESCRIPTIONS = {
    BuiltinGroup.USERS: "Every member of the workspace, service accounts included.",
    BuiltinGroup.ADMINS: "Administer the workspace: all administrator settings; read and modify all resources "
    "except queues; grant permissions.",
    BuiltinGroup.QUEUE_ADMINS: "Create, delete and rename queues.",
}


class UserGroup(UniqueNameModel):
    """A user group of a workspace. Members of the implicit `Users` group are not stored."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="user_groups")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    builtin = models.CharField(max_length=20, choices=BuiltinGroup.choices, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="GroupMembership", related_name="user_groups", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="usergroup_unique_name"),
            models.UniqueConstraint(fields=["workspace", "name_key"], name="usergroup_unique_name_key"),
            models.UniqueConstraint(
                fields=["workspace", "builtin"],
                condition=~models.Q(builtin=""),
                name="usergroup_unique_builtin",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return bool(self.builtin)


class GroupMembership(models.Model):
    group = models.ForeignKey(UserGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_memberships"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="groupmembership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.group}"


class ServiceAccount(UniqueNameModel):
    """A non-human identity of a workspace: a User with is_service_account=True that calls the API only."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="service_accounts")
    # The name shown in the workspace; the user's username follows it (made unique site-wide).
    name = models.CharField(max_length=64, default="")
    allow_impersonation = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="serviceaccount_unique_name"),
            models.UniqueConstraint(fields=["workspace", "name_key"], name="serviceaccount_unique_name_key"),
        ]

    def __str__(self) -> str:
        return self.name


class AccessRule(models.Model):
    """Who may read or modify a workspace resource: the ClearML server's projects, tasks, models,
    datasets, dataviews and queues (through the gateway, access/gateway.py), or the portal's own
    standalone queues and jobs (resources/kinds.py).

    OBJECT_ID None: every object of RESOURCE_TYPE; else the object's id as text (upstream ids are
    strings; the portal's own rows store their primary key as text). Targets: users (service
    accounts included) and groups. Without any rule covering an object, every member may read
    and modify it (see access.permissions).
    """

    class ResourceType(models.TextChoices):
        PROJECT = "project", "Projects"
        TASK = "task", "Tasks"
        MODEL = "model", "Models"
        DATASET = "dataset", "Datasets"
        DATAVIEW = "dataview", "Dataviews"
        QUEUE = "queue", "Queues"

    class Permission(models.TextChoices):
        READ = "read", "Read Only"
        READ_MODIFY = "read_modify", "Read & Modify"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="access_rules")
    resource_type = models.CharField(max_length=16, choices=ResourceType.choices)
    object_id = models.CharField(max_length=64, null=True, blank=True)
    permission = models.CharField(max_length=16, choices=Permission.choices, default=Permission.READ)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="access_rules", blank=True)
    groups = models.ManyToManyField(UserGroup, related_name="access_rules", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["resource_type", "object_id", "id"]
        indexes = [models.Index(fields=["workspace", "resource_type", "object_id"], name="accessrule_lookup")]

    def __str__(self) -> str:
        what = f"#{self.object_id}" if self.object_id is not None else "all"
        return f"{self.get_resource_type_display()} {what}: {self.get_permission_display()}"


class ImpersonationGrant(models.Model):
    """CALLER (a service account with "Allow impersonation", or an administrator) obtained tokens
    acting as OWNER in WORKSPACE through CREDENTIAL (`auth.login` + X-ClearML-Impersonate-As).

    Every impersonated token names its grant (`grant_id`); revoking the grant (the owner leaves
    or is removed, impersonation is switched off, the caller loses the right) stops all of them
    at once through workspaces.revocation, exactly as revoking a credential does. A revoked
    grant never comes back: impersonating again creates a new one.
    """

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    credential = models.ForeignKey(
        "workspaces.Credential", on_delete=models.CASCADE, related_name="impersonation_grants"
    )
    caller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=100, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["credential", "owner"], name="impgrant_by_credential"),
            models.Index(fields=["workspace", "owner"], name="impgrant_by_owner"),
            models.Index(fields=["workspace", "caller"], name="impgrant_by_caller"),
        ]

    def __str__(self) -> str:
        return f"{self.caller} as {self.owner}"
