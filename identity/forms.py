from django import forms

from .models import OIDC_PROVIDERS, SAML_PROVIDERS, IdentityConnection, Protocol
from .net import UnsafeURL, check_url, discover

URL_FIELDS = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
]
SECRET_FIELDS = ["client_secret", "sp_private_key"]


class ConnectionForm(forms.ModelForm):
    """Connection settings. Secrets are never rendered back: left blank on edit, they stay."""

    provider = forms.ChoiceField(label="Provider", choices=[])
    issuer = forms.URLField(
        label="Issuer URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="The provider's issuer. With the endpoints left blank, they are read from its "
        "/.well-known/openid-configuration. ID tokens must carry exactly this issuer.",
    )
    authorization_endpoint = forms.URLField(
        label="Authorization endpoint", required=False, max_length=500, assume_scheme="https"
    )
    token_endpoint = forms.URLField(
        label="Access token endpoint", required=False, max_length=500, assume_scheme="https"
    )
    revocation_endpoint = forms.URLField(
        label="Revocation endpoint", required=False, max_length=500, assume_scheme="https"
    )
    userinfo_endpoint = forms.URLField(
        label="User info endpoint", required=False, max_length=500, assume_scheme="https"
    )
    jwks_uri = forms.URLField(label="JWKS URI", required=False, max_length=500, assume_scheme="https")
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    sp_private_key = forms.CharField(
        label="Private key (PEM)",
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
    )

    class Meta:
        model = IdentityConnection
        fields = [
            "name",
            "provider",
            "issuer",
            "client_id",
            "client_secret",
            "authorization_endpoint",
            "token_endpoint",
            "revocation_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "use_id_token",
            "code_challenge_method",
            "scopes",
            "additional_scopes",
            "idp_entity_id",
            "idp_metadata",
            "want_signed_assertions",
            "sign_requests",
            "sp_public_key",
            "sp_private_key",
            "allow_unsolicited",
            "require_verified_email",
            "create_users",
            "link_by_verified_email",
            "claim_user_id",
            "claim_email",
            "claim_name",
            "claim_given_name",
            "claim_family_name",
            "claim_picture",
            "sync_groups",
            "claim_groups",
        ]
        labels = {
            "name": "Display name",
            "issuer": "Issuer URL",
            "client_id": "Client ID",
            "authorization_endpoint": "Authorization endpoint",
            "token_endpoint": "Access token endpoint",
            "revocation_endpoint": "Revocation endpoint",
            "userinfo_endpoint": "User info endpoint",
            "jwks_uri": "JWKS URI",
            "use_id_token": "Obtain user information from identity token",
            "code_challenge_method": "Code challenge method",
            "scopes": "Standard userinfo scopes",
            "additional_scopes": "Additional scopes",
            "idp_entity_id": "Entity ID",
            "idp_metadata": "IdP metadata (XML)",
            "want_signed_assertions": "Require signed assertions",
            "sign_requests": "Sign client requests",
            "sp_public_key": "Public key (certificate, PEM)",
            "allow_unsolicited": "Accept IdP-initiated (unsolicited) responses",
            "require_verified_email": "Email verification",
            "create_users": "Create new users on first login",
            "link_by_verified_email": "Link existing accounts by verified email",
            "claim_user_id": "User id claim",
            "claim_email": "Email claim",
            "claim_name": "Name claim",
            "claim_given_name": "Given name claim",
            "claim_family_name": "Family name claim",
            "claim_picture": "Picture claim",
            "sync_groups": "User groups synchronization",
            "claim_groups": "Groups claim",
        }
        help_texts = {
            "name": "Shown on the sign-in page as “Sign in with …”; unique in the workspace.",
            "issuer": "The provider's issuer. With the endpoints left blank, they are read from its "
            "/.well-known/openid-configuration. ID tokens must carry exactly this issuer.",
            "use_id_token": "If not selected, the user info endpoint is called after sign-in.",
            "require_verified_email": "Only allow sign-up/sign-in with a verified email address "
            "(the provider must send an email_verified claim).",
            "create_users": "Otherwise only users already linked to this connection can sign in.",
            "link_by_verified_email": "Sign an existing portal user in when the provider vouches for "
            "their email (email_verified). Only enable for providers you trust to verify email.",
            "sync_groups": "Match each group in the groups claim to a user group of this workspace by name; "
            "the user is added to matched groups and removed from the others at each sign-in "
            "(built-in groups are never changed).",
            "idp_entity_id": "The portal's entity ID as registered in your provider's app (the audience of "
            "its assertions). Leave blank to use this connection's metadata URL.",
            "allow_unsolicited": "Off by default: only responses to a sign-in the portal started are accepted.",
        }
        widgets = {
            "idp_metadata": forms.Textarea(attrs={"rows": 4}),
            "sp_public_key": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, protocol: str, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.protocol = protocol
        self.workspace = workspace
        self._stored_secrets = {name: getattr(self.instance, name) for name in SECRET_FIELDS}
        for name in SECRET_FIELDS:
            self.initial[name] = ""  # never rendered back
        self.fields["provider"].choices = OIDC_PROVIDERS if protocol == Protocol.OIDC else SAML_PROVIDERS
        if self.instance.pk:
            for name in SECRET_FIELDS:
                if getattr(self.instance, name):
                    self.fields[
                        name
                    ].help_text = "Set. Leave blank to keep it; type a new value to replace it."
        hidden = OIDC_ONLY if protocol == Protocol.SAML else SAML_ONLY
        for name in hidden:
            del self.fields[name]

    def clean(self):
        data = super().clean()
        for name in SECRET_FIELDS:
            if name in self.fields and not data.get(name) and self._stored_secrets[name]:
                data[name] = self._stored_secrets[name]
        name = data.get("name", "").strip()
        others = IdentityConnection.objects.for_workspace(self.workspace).filter(name__iexact=name)
        if name and others.exclude(pk=self.instance.pk).exists():
            self.add_error("name", "Another connection has this name.")
        for name in URL_FIELDS:
            if data.get(name):
                try:
                    check_url(data[name])
                except UnsafeURL as exc:
                    self.add_error(name, str(exc))
        if self.protocol == Protocol.OIDC:
            if not data.get("issuer"):
                self.add_error("issuer", "The issuer is required: ID tokens are checked against it.")
            if not data.get("client_id"):
                self.add_error("client_id", "Required.")
            if data.get("issuer") and not self.errors and not data.get("authorization_endpoint"):
                self._discover(data)
            if not data.get("authorization_endpoint") and "issuer" not in self.errors:
                self.add_error(
                    "authorization_endpoint", "Required (or give an issuer that supports discovery)."
                )
            if not data.get("token_endpoint") and "issuer" not in self.errors:
                self.add_error("token_endpoint", "Required.")
            if not data.get("jwks_uri") and "issuer" not in self.errors:
                self.add_error("jwks_uri", "Required: ID token signatures are always verified.")
            if not data.get("use_id_token") and not data.get("userinfo_endpoint") and not data.get("issuer"):
                self.add_error(
                    "userinfo_endpoint", "Required unless user information comes from the ID token."
                )
        else:
            if not data.get("idp_metadata"):
                self.add_error("idp_metadata", "Paste the metadata file of your identity provider.")
            else:
                from .saml import SAMLError, parse_metadata

                try:
                    parse_metadata(data["idp_metadata"])
                except SAMLError as exc:
                    self.add_error("idp_metadata", str(exc))
            if data.get("sign_requests") and not (
                data.get("sp_public_key") and (data.get("sp_private_key") or self.instance.sp_private_key)
            ):
                self.add_error("sp_public_key", "Signing requests needs the public and the private key.")
        if data.get("sync_groups") and not data.get("claim_groups"):
            self.add_error("claim_groups", "Name the claim that holds the groups.")
        if not data.get("claim_user_id"):
            self.add_error("claim_user_id", "Required.")
        return data

    def _discover(self, data: dict) -> None:
        """Fill the endpoints from the issuer's discovery document (a guarded server-side fetch)."""
        try:
            config = discover(data["issuer"])
        except (UnsafeURL, ValueError) as exc:
            self.add_error("issuer", f"Discovery failed: {exc}")
            return
        for field, key in [
            ("authorization_endpoint", "authorization_endpoint"),
            ("token_endpoint", "token_endpoint"),
            ("revocation_endpoint", "revocation_endpoint"),
            ("userinfo_endpoint", "userinfo_endpoint"),
            ("jwks_uri", "jwks_uri"),
        ]:
            value = config.get(key)
            if isinstance(value, str) and not data.get(field):
                try:
                    data[field] = check_url(value)
                except UnsafeURL as exc:
                    self.add_error("issuer", f"Discovery named an unsafe {key}: {exc}")


OIDC_ONLY = [
    "issuer",
    "client_id",
    "client_secret",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "use_id_token",
    "code_challenge_method",
    "scopes",
    "additional_scopes",
]
SAML_ONLY = [
    "idp_entity_id",
    "idp_metadata",
    "want_signed_assertions",
    "sign_requests",
    "sp_public_key",
    "sp_private_key",
    "allow_unsolicited",
]
