import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from settings_portal.crypto import EncryptedTextField

# The values of these variables are replaced with ******** wherever the portal shows
# environment or configuration text (spec: Configuration → Hide specific container arguments).
DEFAULT_HIDDEN_CONTAINER_ARGS = [
    "CLEARML_API_SECRET_KEY",
    "CLEARML_AGENT_GIT_PASS",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_KEY",
]


def default_hidden_container_args() -> list[str]:
    return list(DEFAULT_HIDDEN_CONTAINER_ARGS)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An email address is required")
        email = self.normalize_email(email).lower()
        extra.setdefault("username", email.split("@")[0])
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person (or, later, a service account) known to the portal.

    The id is a 32-character hex string in the API (ClearML's id shape); the
    email is the login; the username is the display name shown in the UI and may
    also be typed at sign-in.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    username = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    # Site operator: may use Django's own tools; not the same as a workspace admin.
    is_staff = models.BooleanField(default=False)
    # Service accounts (access.ServiceAccount) call the API only and can never sign in to the UI.
    is_service_account = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    last_active = models.DateTimeField(null=True, blank=True)
    # The picture claim of the identity provider the user last signed in with (https only, see
    # identity.services.avatar_url_from_claim); empty for password accounts.
    avatar_url = models.URLField(max_length=500, blank=True, default="")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username or self.email

    def get_full_name(self) -> str:
        return self.username

    def get_short_name(self) -> str:
        return self.username


class UserPreferences(models.Model):
    """The USER PREFERENCES of the Configuration page, with the spec's defaults."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="preferences")
    show_hidden_projects = models.BooleanField(default=False)
    hide_examples = models.BooleanField(default=False)
    disable_hidpi_override = models.BooleanField(default=False)
    hide_pro_tips = models.BooleanField(default=False)
    block_scripts = models.BooleanField(default=False)
    hidden_container_args = models.JSONField(default=default_hidden_container_args)
    share_telemetry = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user}"


class CloudAccess(models.Model):
    """Web App Cloud Access: storage credentials the browser uses to show stored data.

    The secret is encrypted at rest and never sent back to the browser.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="cloud_access")
    bucket = models.CharField(max_length=255)
    key = models.CharField("access key", max_length=255, blank=True)
    secret = EncryptedTextField("secret / SAS", blank=True)
    region = models.CharField(max_length=64, blank=True)
    endpoint = models.CharField("host (endpoint)", max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bucket", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "bucket", "endpoint"], name="cloudaccess_unique_bucket")
        ]

    def __str__(self) -> str:
        return self.bucket
