import re
import uuid
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django import forms
from django.conf import settings
from django.core import signing
from django.http.request import validate_host

from . import presets
from .models import OIDC_PROVIDERS, SAML_PROVIDERS, IdentityConnection, Protocol
from .net import UnsafeURL, check_url, discover
from .saml import SAMLError, parse_metadata

URL_FIELDS = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
]
ENDPOINTS = [name for name in URL_FIELDS if name != "issuer"]
SECRET_FIELDS = ["client_secret", "sp_private_key"]
MAX_METADATA_BYTES = 1024 * 1024
CONNECTION_ID_SALT = "identity.connection-id"
TOKEN_RE = re.compile(r"\{([a-z0-9-]+)\}")
PARAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")

OPENSSL_HINT = (
    "openssl genrsa -out server.key 2048\n"
    "chmod 600 server.key\n"
    "openssl req -new -key server.key -out server.csr\n"
    "openssl x509 -req -days 3650 -in server.csr -signkey server.key -out server.cer"
)


def providers_for(protocol: str) -> list[tuple[str, str]]:
    return SAML_PROVIDERS if protocol == Protocol.SAML else OIDC_PROVIDERS


def new_connection_token() -> str:
    """A signed id for a connection not saved yet: its callback URL can be shown (and registered at
    the provider) before saving, and the client cannot choose another connection's id."""
    return signing.dumps(str(uuid.uuid4()), salt=CONNECTION_ID_SALT)


def connection_id_from(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(signing.loads(token or "", salt=CONNECTION_ID_SALT))
    except (signing.BadSignature, ValueError, TypeError):
        return None


class ConnectionForm(forms.ModelForm):
    """Connection settings, prefilled from the provider's preset on creation.

    Secrets are never rendered back: left blank on edit, they stay. Saving reaches the network only
    to read the issuer's discovery document when endpoints are missing (or when asked to).
    """

    provider = forms.ChoiceField(label="Provider", choices=[], widget=forms.HiddenInput)
    connection_id = forms.CharField(required=False, widget=forms.HiddenInput)
    webapp_url = forms.URLField(
        label="ClearML WebApp URL",
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text="The portal's external URL, as users' browsers reach it. The callback URL is built on it.",
    )
    issuer = forms.URLField(
        label="Issuer URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="ID tokens must carry exactly this issuer. Read from issuer fills the endpoints from its "
        "/.well-known/openid-configuration; Save does so for any endpoint left blank.",
    )
    authorization_endpoint = forms.URLField(
        label="Authorization endpoint", required=False, max_length=500, assume_scheme="https"
    )
    token_endpoint = forms.URLField(
        label="Access token endpoint", required=False, max_length=500, assume_scheme="https"
    )
    revocation_endpoint = forms.URLField(
        label="Revocation endpoint",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="When set, the user's tokens are revoked at the provider when they sign out of the portal.",
    )
    userinfo_endpoint = forms.URLField(
        label="User info endpoint",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Called after sign-in when user information does not come from the identity token.",
    )
    jwks_uri = forms.URLField(
        label="JWKS URI",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="The provider's signing keys (cached; a new key id makes the portal read them again).",
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    idp_metadata_file = forms.FileField(
        label="IDP metadata file",
        required=False,
        help_text="The metadata XML downloaded from your identity provider (or paste it below).",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".xml,application/xml,text/xml,application/samlmetadata+xml"}
        ),
    )
    sp_public_key = forms.CharField(
        label="Public key",
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "-----BEGIN CERTIFICATE-----"}),
        help_text="The content of server.cer. Give the same certificate to your provider's app (Client "
        "Certificate); it is also published in the portal's metadata so the provider can encrypt assertions.",
    )
    sp_private_key = forms.CharField(
        label="Private key",
        required=False,
        max_length=20000,
        widget=forms.Textarea(
            attrs={"rows": 3, "autocomplete": "off", "placeholder": "-----BEGIN PRIVATE KEY-----"}
        ),
        help_text="The content of server.key. Stored encrypted, never shown again.",
    )

    class Meta:
        model = IdentityConnection
        fields = [
            "name",
            "provider",
            "webapp_url",
            "issuer",
            "client_id",
            "client_secret",
            "authorization_endpoint",
            "token_endpoint",
            "revocation_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "use_id_token",
            "verify_signature",
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
            "client_id": "Client ID",
            "use_id_token": "Obtain user information from identity token",
            "verify_signature": "Verify token signature",
            "code_challenge_method": "Code challenge method",
            "scopes": "Standard userinfo scopes",
            "additional_scopes": "Additional scopes",
            "idp_entity_id": "Entity ID",
            "idp_metadata": "IDP metadata (XML)",
            "want_signed_assertions": "Require signed assertions",
            "sign_requests": "Sign client requests",
            "allow_unsolicited": "Accept IdP-initiated (unsolicited) responses",
            "require_verified_email": "Email verification",
            "create_users": "Create new users on first login",
            "link_by_verified_email": "Link existing accounts by verified email",
            "claim_user_id": "User id",
            "claim_email": "Email",
            "claim_name": "Name",
            "claim_given_name": "Given name",
            "claim_family_name": "Family name",
            "claim_picture": "Picture",
            "sync_groups": "User groups synchronization",
            "claim_groups": "Groups claim",
        }
        help_texts = {
            "name": "Shown on the sign-in page as “Sign in with …”; unique in the workspace.",
            "use_id_token": "If not selected, the user info endpoint is called after sign-in and its answer "
            "is used.",
            "verify_signature": "Check the identity token's signature against the provider's keys (JWKS URI). "
            "Off: the token is trusted because it comes straight from the token endpoint over TLS.",
            "code_challenge_method": "PKCE; match your provider's app.",
            "scopes": "Comma-separated. openid is always sent.",
            "additional_scopes": "Comma-separated, for scopes your provider needs besides the standard ones.",
            "require_verified_email": "Only allow sign-up/sign-in with a verified email address (the provider "
            "must send an email_verified claim that is true).",
            "create_users": "Otherwise only users already linked to this connection, or invited to this "
            "workspace with their (verified) email address, can sign in.",
            "link_by_verified_email": "Sign an existing member of this workspace in when the provider vouches "
            "for their email (email_verified). Only enable for providers you trust to verify email.",
            "claim_user_id": "The user's unique id at the provider.",
            "claim_name": "The user's full name: their display name when the account is created.",
            "claim_given_name": "Optional if Name is given.",
            "claim_family_name": "Optional if Name is given.",
            "claim_picture": "The user's avatar URL (shown by Test Provider).",
            "sync_groups": "Match each group in the groups claim to a user group of this workspace by name; "
            "the user is added to matched groups and removed from the others at each sign-in "
            "(built-in groups are never changed).",
            "idp_entity_id": "The portal's entity ID as registered in your provider's app (the audience of "
            "its assertions). Leave blank to use this connection's metadata URL, shown above.",
            "want_signed_assertions": "Off: a signature on the whole response is enough. Unsigned responses "
            "are always refused.",
            "sign_requests": "Sign the requests the portal sends to the identity provider with the private "
            "key below.",
            "allow_unsolicited": "Off by default: only responses to a sign-in the portal started are accepted.",
        }
        widgets = {
            "idp_metadata": forms.Textarea(attrs={"rows": 4, "placeholder": "<md:EntityDescriptor …"}),
        }

    def __init__(
        self,
        data=None,
        files=None,
        *,
        protocol: str,
        workspace,
        provider: str = "",
        instance: IdentityConnection | None = None,
        initial: dict | None = None,
    ):
        creating = instance is None
        provider = instance.provider if instance is not None else provider
        self.protocol = protocol
        self.workspace = workspace
        self.preset = presets.preset(protocol, provider) if creating else presets.Preset()
        self.params = self.preset.params
        self._param_errors: dict[str, str] = {}
        self._unfilled: dict[str, list[str]] = {}
        self.discovery_error = ""
        if creating:
            defaults = {
                **self.preset.values,
                "provider": provider,
                "webapp_url": settings.PORTAL_BASE_URL,
                "connection_id": new_connection_token(),
            }
        else:
            defaults = {"webapp_url": instance.base_url}
        initial = {**defaults, **(initial or {})}
        if data is not None:
            data = self._fill_params(data)
        super().__init__(data, files, instance=instance, initial=initial)
        self.creating = creating
        self._stored_secrets = {name: getattr(self.instance, name) for name in SECRET_FIELDS}
        for name in SECRET_FIELDS:
            self.initial[name] = ""  # never rendered back
        self.fields["provider"].choices = providers_for(protocol)
        if not creating:
            del self.fields["connection_id"]
            for name in SECRET_FIELDS:
                if getattr(self.instance, name):
                    self.fields[
                        name
                    ].help_text = "Set. Leave blank to keep it; type a new value to replace it."
        for param in self.params:
            self.fields[param.field_name] = forms.CharField(
                label=param.label,
                required=False,
                max_length=200,
                help_text=param.help,
                widget=forms.TextInput(
                    attrs={
                        "placeholder": param.example,
                        "data-preset-param": param.token,
                        "autocomplete": "off",
                    }
                ),
            )
        hidden = OIDC_ONLY if protocol == Protocol.SAML else SAML_ONLY
        for name in hidden:
            del self.fields[name]
        if protocol == Protocol.OIDC:
            self.fields["client_id"].required = True
            self.fields["issuer"].required = True
            self.fields["issuer"].error_messages["required"] = (
                "The issuer is required: ID tokens are checked against it."
            )
        for name in ("claim_given_name", "claim_family_name", "claim_picture", "claim_groups", "claim_name"):
            self.fields[name].widget.attrs.setdefault("placeholder", "(not used)")

    # --- Preset parameters --------------------------------------------------------------------

    def _fill_params(self, data):
        """Put the administrator's values (tenant, domain, realm) into every field holding their
        `{token}`; a field still holding one is reported in `clean`."""
        data = data.copy()
        values = {}
        for param in self.params:
            value = (data.get(param.field_name) or "").strip()
            if not value:
                continue
            if param.is_url:
                value = value.rstrip("/")
                parts = urlsplit(value)
                if (
                    parts.scheme not in ("https", "http")
                    or not parts.hostname
                    or parts.query
                    or parts.fragment
                ):
                    self._param_errors[param.field_name] = f"Enter a URL such as {param.example}."
                    continue
            elif not PARAM_RE.match(value):
                self._param_errors[param.field_name] = (
                    f"Use letters, digits, dots and dashes, as in {param.example}."
                )
                continue
            values[param.token] = value
        known = {param.token for param in self.params}
        for key in list(data.keys()):
            if key.startswith("param_") or key in SECRET_FIELDS:
                continue
            text = data.get(key, "")
            if not isinstance(text, str) or "{" not in text:
                continue
            for token, value in values.items():
                text = text.replace("{" + token + "}", value)
            data[key] = text
            missing = [t for t in TOKEN_RE.findall(text) if t in known]
            if missing:
                self._unfilled[key] = missing
        return data

    def param_values(self) -> dict:
        return (
            {param.token: (self.data.get(param.field_name) or "") for param in self.params}
            if self.is_bound
            else {}
        )

    # --- Field checks ---------------------------------------------------------------------------

    def clean_connection_id(self):
        connection_id = connection_id_from(self.cleaned_data.get("connection_id", ""))
        if connection_id is None:
            raise forms.ValidationError("This form is damaged or too old: close it and start again.")
        # Ids are global (they are in public URLs): an id in use means this form was saved already.
        if IdentityConnection.objects.dangerously_all().filter(pk=connection_id).exists():
            raise forms.ValidationError("This connection was saved already: close the dialog to see it.")
        return connection_id

    def clean_webapp_url(self):
        url = (self.cleaned_data.get("webapp_url") or "").rstrip("/")
        if not url or url == settings.PORTAL_BASE_URL:
            return ""  # follows PORTAL_BASE_URL
        parts = urlsplit(url)
        if parts.path or parts.query or parts.fragment or parts.username or parts.password:
            raise forms.ValidationError(
                "Give the scheme and host only (and a port if any), such as https://clearml.example.com."
            )
        if parts.scheme != "https" and not (
            settings.PORTAL_IDP_ALLOW_PRIVATE_URLS or settings.PORTAL_BASE_URL.startswith("http:")
        ):
            raise forms.ValidationError("Use an https URL.")
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        if not validate_host(host or "", settings.ALLOWED_HOSTS):
            raise forms.ValidationError(
                f"The portal does not answer at {parts.hostname} (not in ALLOWED_HOSTS)."
            )
        return url

    def clean_idp_metadata_file(self):
        upload = self.cleaned_data.get("idp_metadata_file")
        if not upload:
            return ""
        if upload.size > MAX_METADATA_BYTES:
            raise forms.ValidationError("The metadata file is larger than 1 MB.")
        try:
            return upload.read(MAX_METADATA_BYTES + 1).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The metadata file is not UTF-8 XML.") from exc

    def clean(self):
        data = super().clean()
        for name, message in self._param_errors.items():
            self.add_error(name, message)
        labels = {param.token: param.label for param in self.params}
        for name, tokens in self._unfilled.items():
            if name in self.fields:
                wanted = ", ".join(labels[t] for t in tokens)
                self._errors.pop(name, None)
                self.add_error(name, f"Fill in {wanted} at the top: this value is built from it.")
        for name in SECRET_FIELDS:
            if name in self.fields and not data.get(name) and self._stored_secrets[name]:
                data[name] = self._stored_secrets[name]
        name = (data.get("name") or "").strip()
        others = IdentityConnection.objects.for_workspace(self.workspace).filter(name__iexact=name)
        if name and others.exclude(pk=self.instance.pk).exists():
            self.add_error("name", "Another connection has this name.")
        for field in URL_FIELDS:
            if data.get(field):
                try:
                    check_url(data[field])
                except UnsafeURL as exc:
                    self.add_error(field, str(exc))
        if self.protocol == Protocol.OIDC:
            self._clean_oidc(data)
        else:
            self._clean_saml(data)
        if data.get("sync_groups") and not data.get("claim_groups"):
            self.add_error("claim_groups", "Name the claim that holds the groups.")
        if not data.get("claim_user_id"):
            self.add_error("claim_user_id", "Required.")
        if not (data.get("claim_name") or data.get("claim_given_name") or data.get("claim_family_name")):
            self.add_error("claim_name", "Give the name claim, or the given and family name claims.")
        if self.creating and "connection_id" in data and data["connection_id"]:
            self.instance.pk = data["connection_id"]
        return data

    def _clean_oidc(self, data: dict) -> None:
        issuer = data.get("issuer")
        needed = ["authorization_endpoint", "token_endpoint"]
        if data.get("verify_signature"):
            needed.append("jwks_uri")
        if not data.get("use_id_token"):
            needed.append("userinfo_endpoint")
        missing = [name for name in needed if not data.get(name) and name not in self.errors]
        if missing and issuer and "issuer" not in self.errors:
            self.discovery_error = discovery_fill(data, only_blank=True)
            if self.discovery_error:
                self.add_error("issuer", self.discovery_error)
        messages = {
            "authorization_endpoint": "Required.",
            "token_endpoint": "Required.",
            "jwks_uri": "Required to verify token signatures.",
            "userinfo_endpoint": "Required unless user information comes from the identity token.",
        }
        for name in needed:
            if not data.get(name) and name not in self.errors:
                self.add_error(name, messages[name])
        token_endpoint = data.get("token_endpoint") or ""
        if (
            not data.get("verify_signature")
            and token_endpoint.startswith("http:")
            and not settings.PORTAL_IDP_ALLOW_PRIVATE_URLS
        ):
            self.add_error(
                "verify_signature",
                "Without signature checks the identity token is trusted because it comes from the token "
                "endpoint over TLS: the token endpoint must be https.",
            )

    def _clean_saml(self, data: dict) -> None:
        uploaded = data.get("idp_metadata_file")
        if uploaded:
            data["idp_metadata"] = uploaded
        if not data.get("idp_metadata"):
            if "idp_metadata_file" not in self.errors:
                self.add_error("idp_metadata", "Upload or paste the metadata file of your identity provider.")
        else:
            try:
                parse_metadata(data["idp_metadata"])
            except SAMLError as exc:
                self.add_error("idp_metadata_file" if uploaded else "idp_metadata", str(exc))
        public, private = data.get("sp_public_key", "").strip(), data.get("sp_private_key", "").strip()
        if data.get("sign_requests") and not (public and private):
            self.add_error("sp_public_key", "Signing requests needs the public and the private key.")
        elif public or private:
            if not (public and private):
                self.add_error("sp_public_key", "Give both keys, or neither.")
            else:
                error = key_pair_error(public, private)
                if error:
                    self.add_error("sp_private_key" if "private" in error else "sp_public_key", error)


def key_pair_error(certificate_pem: str, key_pem: str) -> str:
    """Why the certificate and private key cannot sign requests together, or ''."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        return "The public key is not a PEM certificate (the content of server.cer)."
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        return "The private key is protected by a passphrase: remove it (openssl rsa -in server.key -out server.key)."
    except ValueError:
        return "The private key is not a PEM key (the content of server.key)."
    if not isinstance(key, rsa.RSAPrivateKey):
        return "Use an RSA private key (openssl genrsa)."
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():
        return "The private key does not belong to the certificate."
    return ""


DISCOVERED = [
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
]


def discovery_fill(data: dict, *, only_blank: bool) -> str:
    """Fill DATA's endpoints from the issuer's discovery document (a guarded server-side fetch).
    Returns an error message, or '' on success."""
    try:
        config = discover(data["issuer"])
    except (UnsafeURL, ValueError) as exc:
        return f"Discovery failed: {exc} Fill in the endpoints below, or correct the issuer."
    for name in DISCOVERED:
        value = config.get(name)
        if not isinstance(value, str) or (only_blank and data.get(name)):
            continue
        try:
            data[name] = check_url(value)
        except UnsafeURL as exc:
            return f"Discovery named an unsafe {name}: {exc}"
    return ""


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
    "verify_signature",
    "code_challenge_method",
    "scopes",
    "additional_scopes",
]
SAML_ONLY = [
    "idp_entity_id",
    "idp_metadata",
    "idp_metadata_file",
    "want_signed_assertions",
    "sign_requests",
    "sp_public_key",
    "sp_private_key",
    "allow_unsolicited",
]
