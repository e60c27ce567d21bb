"""A workspace's ClearML server (its upstream apiserver) and the server's users the portal made.

The token secret and the system secret are readable secrets (the portal signs tokens with the
first and logs in with the second), so they are encrypted at rest (settings_portal/crypto.py)
and never rendered. A server's company is linked to one workspace at most: two workspaces
sharing a company would see each other's projects, tasks and queues, because the open-source
server has no isolation inside a company.
"""

from django.conf import settings
from django.db import models

from settings_portal.crypto import EncryptedTextField
from workspaces.models import TenantQuerySet, Workspace


class LinkSource(models.TextChoices):
    COMMAND = "command", "manage.py portal_upstream link"
    ENVIRONMENT = "environment", "CLEARML_UPSTREAM_* environment variables"


class UpstreamLink(models.Model):
    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="upstream_link")
    url = models.URLField(max_length=500)
    token_secret = EncryptedTextField()
    # A keyed hash of the token secret: which links share a trust domain (see the constraint).
    token_secret_fingerprint = models.CharField(max_length=64)
    system_access_key = models.CharField(max_length=200)
    system_secret_key = EncryptedTextField()
    source = models.CharField(max_length=20, choices=LinkSource.choices, default=LinkSource.COMMAND)
    # Discovered from the server (its system login and server.info); empty until the first check.
    company_id = models.CharField(max_length=64, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    server_version = models.CharField(max_length=40, blank=True)
    api_version = models.CharField(max_length=20, blank=True)
    reachable = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # The open-source server's company id is the same on every install (its
            # `default_company`), so a company is told apart by the server's token secret:
            # a token the portal signs for one link would be valid on the other.
            models.UniqueConstraint(
                fields=["token_secret_fingerprint", "company_id"],
                condition=~models.Q(company_id=""),
                name="upstream_company_linked_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace} -> {self.url}"


class UpstreamUser(models.Model):
    """The upstream user the portal created (auth.create_user) for a member or service account."""

    link = models.ForeignKey(UpstreamLink, on_delete=models.CASCADE, related_name="users")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upstream_users"
    )
    upstream_id = models.CharField(max_length=64)
    # The name the upstream knows (the portal's username); a rename is pushed upstream.
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "user"], name="upstream_user_once_per_link"),
            models.UniqueConstraint(fields=["link", "upstream_id"], name="upstream_id_once_per_link"),
        ]

    def __str__(self) -> str:
        return f"{self.user} = {self.upstream_id}"
