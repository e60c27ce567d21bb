import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from settings_portal.crypto import EncryptedTextField
from settings_portal.names import UniqueNameModel
from workspaces.models import TenantQuerySet, Workspace


class VaultScope(models.TextChoices):
    USER = "user", "User"  # a member's own vault (one per member and workspace)
    GROUP = "group", "Group"  # an administrator vault, applied to one user group


class VaultFormat(models.TextChoices):
    HOCON = "hocon", "HOCON"
    JSON = "json", "JSON"
    YAML = "yaml", "YAML"


class VaultQuerySet(TenantQuerySet):
    def enabled(self):
        return self.filter(enabled=True)

    def group_vaults(self):
        return self.filter(scope=VaultScope.GROUP)

    def user_vaults(self):
        return self.filter(scope=VaultScope.USER)


class Vault(UniqueNameModel):
    """A configuration vault: ClearML client settings merged over the clients' `clearml.conf`.

    `content` is the text as its author wrote it (downloads and the editor show it);
    `data` is what `users.get_vaults` serves (the same text for HOCON, JSON made from
    the parsed values for JSON and YAML: see vaults/parsing.py). Both are encrypted at
    rest. `summary` holds the first few key paths (not values) for the vault table.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="vaults")
    scope = models.CharField(max_length=8, choices=VaultScope.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A deleted group leaves its vaults in place, applying to nobody, until an admin reassigns them.
    group = models.ForeignKey(
        "access.UserGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="vaults"
    )
    name = models.CharField(max_length=100, blank=True)
    format = models.CharField(max_length=8, choices=VaultFormat.choices, default=VaultFormat.HOCON)
    content = EncryptedTextField(blank=True)
    data = EncryptedTextField(blank=True)
    summary = models.JSONField(default=list, blank=True)
    key_count = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VaultQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "user"], condition=Q(scope="user"), name="vault_one_per_user"
            ),
            models.UniqueConstraint(
                fields=["workspace", "name_key"],
                condition=Q(scope="group") & ~Q(name_key=""),
                name="vault_unique_group_name_key",
            ),
            models.CheckConstraint(
                condition=(
                    Q(scope="user", user__isnull=False, group__isnull=True)
                    | Q(scope="group", user__isnull=True)
                ),
                name="vault_scope_owner",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "scope", "enabled"])]

    def __str__(self) -> str:
        if self.scope == VaultScope.USER:
            return f"vault of {self.user}"
        return self.name or f"vault {self.pk}"

    @property
    def is_group(self) -> bool:
        return self.scope == VaultScope.GROUP

    @property
    def summary_more(self) -> int:
        return max(self.key_count - len(self.summary or []), 0)

    @property
    def filename(self) -> str:
        extension = {"hocon": "conf", "json": "json", "yaml": "yaml"}[self.format]
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in (self.name or "vault")).strip("-")
        return f"{stem or 'vault'}.{extension}"
