import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from settings_portal.crypto import EncryptedTextField
from workspaces.models import TenantQuerySet, Workspace


class Protocol(models.TextChoices):
    OIDC = "oidc", "OIDC"
    SAML = "saml", "SAML"


OIDC_PROVIDERS = [
    ("auth0", "Auth0"),
    ("cognito", "AWS Cognito"),
    ("google", "Google"),
    ("keycloak", "Keycloak"),
    ("microsoft_ad", "Microsoft AD"),
    ("azure", "Microsoft Azure"),
    ("okta", "Okta"),
    ("ping", "Ping"),
    ("custom", "Custom"),
]
SAML_PROVIDERS = [
    ("duo", "Duo"),
    ("google", "Google"),
    ("jumpcloud", "Jumpcloud"),
    ("microsoft_ad", "Microsoft AD"),
    ("custom", "Custom"),
]
PROVIDER_LABELS = dict(OIDC_PROVIDERS + SAML_PROVIDERS)


class CodeChallenge(models.TextChoices):
    NONE = "none", "None"
    PLAIN = "plain", "Plain"
    S256 = "S256", "S256"


class IdentityConnection(models.Model):
    """A workspace's connection to an identity provider; enabled ones appear on the sign-in page.

    The UUID is public (it is in the callback URL); secrets are encrypted at rest and never
    rendered back.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="identity_connections")
    protocol = models.CharField(max_length=4, choices=Protocol.choices)
    provider = models.CharField(max_length=20, default="custom")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=False)
    # The portal's external URL as the provider sees it: callback, ACS and entity id are built on
    # it. Blank: PORTAL_BASE_URL.
    webapp_url = models.URLField(max_length=300, blank=True)

    # OIDC
    issuer = models.URLField(max_length=500, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    client_secret = EncryptedTextField(blank=True)
    authorization_endpoint = models.URLField(max_length=500, blank=True)
    token_endpoint = models.URLField(max_length=500, blank=True)
    revocation_endpoint = models.URLField(max_length=500, blank=True)
    userinfo_endpoint = models.URLField(max_length=500, blank=True)
    jwks_uri = models.URLField(max_length=500, blank=True)
    use_id_token = models.BooleanField(default=True)
    verify_signature = models.BooleanField(default=True)
    code_challenge_method = models.CharField(
        max_length=5, choices=CodeChallenge.choices, default=CodeChallenge.S256
    )
    scopes = models.CharField(max_length=300, default="openid,email,profile")
    additional_scopes = models.CharField(max_length=300, blank=True)

    # SAML
    idp_entity_id = models.CharField(max_length=500, blank=True)
    idp_metadata = models.TextField(blank=True)
    want_signed_assertions = models.BooleanField(default=True)
    sign_requests = models.BooleanField(default=False)
    sp_public_key = models.TextField(blank=True)
    sp_private_key = EncryptedTextField(blank=True)
    allow_unsolicited = models.BooleanField(default=False)

    # Users
    require_verified_email = models.BooleanField(default=True)
    create_users = models.BooleanField(default=False)
    link_by_verified_email = models.BooleanField(default=False)

    # Claims mappings
    claim_user_id = models.CharField(max_length=200, default="sub")
    claim_email = models.CharField(max_length=200, default="email")
    claim_name = models.CharField(max_length=200, default="name", blank=True)
    claim_given_name = models.CharField(max_length=200, default="given_name", blank=True)
    claim_family_name = models.CharField(max_length=200, default="family_name", blank=True)
    claim_picture = models.CharField(max_length=200, default="picture", blank=True)
    sync_groups = models.BooleanField(default=False)
    claim_groups = models.CharField(max_length=200, default="groups", blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="identityconnection_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def base_url(self) -> str:
        return (self.webapp_url or settings.PORTAL_BASE_URL).rstrip("/")

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.provider, self.provider)

    @property
    def scope_list(self) -> list[str]:
        scopes = [s.strip() for s in f"{self.scopes},{self.additional_scopes}".split(",") if s.strip()]
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        return list(dict.fromkeys(scopes))


class ExternalIdentity(models.Model):
    """A user's identity at one connection: (connection, subject) is unique, so the same
    subject at two providers is two identities (no cross-provider takeover)."""

    connection = models.ForeignKey(IdentityConnection, on_delete=models.CASCADE, related_name="identities")
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "subject"], name="externalidentity_unique_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.connection}"


class SAMLAssertion(models.Model):
    """Replay cache: an assertion id is accepted once, and remembered until it expires anyway."""

    connection = models.ForeignKey(IdentityConnection, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "assertion_id"], name="samlassertion_unique_id"),
        ]

    def __str__(self) -> str:
        return self.assertion_id
