"""What each provider documents, prefilled in the connection's configuration step.

A value the administrator must supply (a tenant, a domain, a realm) appears as a `{token}` in the
prefilled fields; its input is shown at the top of the form. On save the form fills every token in
(server-side, so it works without JavaScript); `static/js/identity.js` shows the result as the
administrator types. Nothing here reaches the network.
"""

from dataclasses import dataclass, field

from .models import Protocol


@dataclass(frozen=True)
class Param:
    """A value of the administrator's that the preset's URLs are built from."""

    token: str  # as written in the values: {token}
    label: str
    example: str
    help: str = ""
    is_url: bool = False  # a base URL (scheme and host, maybe a path), else a host name or an id

    @property
    def field_name(self) -> str:
        return "param_" + self.token.replace("-", "_")


@dataclass(frozen=True)
class Preset:
    params: tuple[Param, ...] = ()
    values: dict = field(default_factory=dict)
    note: str = ""  # shown above the form: where the values come from, what to set at the provider


OIDC_CLAIMS = {
    "claim_user_id": "sub",
    "claim_email": "email",
    "claim_name": "name",
    "claim_given_name": "given_name",
    "claim_family_name": "family_name",
    "claim_picture": "picture",
}
OIDC_BASE = {**OIDC_CLAIMS, "scopes": "openid,email,profile", "code_challenge_method": "S256"}


def _endpoints(base: str, auth: str, token: str, revoke: str, userinfo: str, jwks: str) -> dict:
    return {
        "authorization_endpoint": base + auth,
        "token_endpoint": base + token,
        "revocation_endpoint": base + revoke if revoke else "",
        "userinfo_endpoint": base + userinfo,
        "jwks_uri": base + jwks,
    }


OIDC_PRESETS = {
    "auth0": Preset(
        params=(Param("auth0-domain", "Auth0 domain", "your-tenant.eu.auth0.com"),),
        values={
            **OIDC_BASE,
            # Auth0's issuer ends with a slash, and ID tokens carry it exactly so.
            "issuer": "https://{auth0-domain}/",
            **_endpoints(
                "https://{auth0-domain}",
                "/authorize",
                "/oauth/token",
                "/oauth/revoke",
                "/userinfo",
                "/.well-known/jwks.json",
            ),
            "claim_groups": "",
        },
        note="In Auth0: Applications → your Regular Web Application → Settings has the domain, "
        "client ID and secret; add the callback URL below to Allowed Callback URLs. Auth0 sends groups "
        "only through an Action that adds a namespaced claim (such as https://example.com/groups): "
        "name that claim under Groups claim.",
    ),
    "cognito": Preset(
        params=(
            Param("region", "AWS region", "eu-west-1"),
            Param("user-pool-id", "User pool ID", "eu-west-1_AbCdEf123"),
            Param(
                "cognito-domain",
                "User pool domain",
                "your-prefix.auth.eu-west-1.amazoncognito.com",
                help="App integration → Domain (a Cognito or a custom domain).",
            ),
        ),
        values={
            **OIDC_BASE,
            "issuer": "https://cognito-idp.{region}.amazonaws.com/{user-pool-id}",
            **_endpoints(
                "https://{cognito-domain}",
                "/oauth2/authorize",
                "/oauth2/token",
                "/oauth2/revoke",
                "/oauth2/userInfo",
                "",
            ),
            "jwks_uri": "https://cognito-idp.{region}.amazonaws.com/{user-pool-id}/.well-known/jwks.json",
            "claim_groups": "cognito:groups",
        },
        note="In Amazon Cognito: your user pool → App integration → App client (confidential, with a "
        "secret); add the callback URL below to Allowed callback URLs and allow the openid, email and "
        "profile scopes. Cognito puts the user's groups in cognito:groups.",
    ),
    "google": Preset(
        values={
            **OIDC_BASE,
            "issuer": "https://accounts.google.com",
            "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
            "token_endpoint": "https://oauth2.googleapis.com/token",
            "revocation_endpoint": "https://oauth2.googleapis.com/revoke",
            "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
            "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
            "claim_groups": "",
        },
        note="From Google's discovery document (accounts.google.com/.well-known/openid-configuration). "
        "In Google Cloud console: APIs & Services → Credentials → OAuth client ID (Web application); add "
        "the callback URL below to Authorized redirect URIs. Google sends no groups claim.",
    ),
    "keycloak": Preset(
        params=(
            Param(
                "keycloak-url",
                "Keycloak URL",
                "https://sso.example.com",
                help="Where Keycloak answers; add /auth for Keycloak 16 and older.",
                is_url=True,
            ),
            Param("realm", "Realm", "company"),
        ),
        values={
            **OIDC_BASE,
            "issuer": "{keycloak-url}/realms/{realm}",
            **_endpoints(
                "{keycloak-url}/realms/{realm}/protocol/openid-connect",
                "/auth",
                "/token",
                "/revoke",
                "/userinfo",
                "/certs",
            ),
            "claim_groups": "groups",
        },
        note="In Keycloak: your realm → Clients → Create client (OpenID Connect, Client authentication "
        "on); add the callback URL below to Valid redirect URIs. For groups, add a Group Membership "
        "mapper named groups (Full group path off) to the client's dedicated scope.",
    ),
    "microsoft_ad": Preset(
        params=(Param("adfs-host", "AD FS host", "adfs.example.com"),),
        values={
            **OIDC_BASE,
            "issuer": "https://{adfs-host}/adfs",
            **_endpoints(
                "https://{adfs-host}/adfs",
                "/oauth2/authorize/",
                "/oauth2/token/",
                "",
                "/userinfo",
                "/discovery/keys",
            ),
            "claim_groups": "group",
        },
        note="In AD FS Management: Application Groups → Add → Server application accessing a web API; "
        "the callback URL below is its redirect URI. Issue email, given_name, family_name and group "
        "with claim rules. AD FS sends no email_verified claim: with Email verification on, add a rule "
        "issuing it, or turn Email verification off if your directory's addresses are trusted.",
    ),
    "azure": Preset(
        params=(
            Param(
                "tenant-id",
                "Directory (tenant) ID",
                "00000000-0000-0000-0000-000000000000",
                help="Microsoft Entra ID → App registrations → your app → Overview.",
            ),
        ),
        values={
            **OIDC_BASE,
            "issuer": "https://login.microsoftonline.com/{tenant-id}/v2.0",
            **_endpoints(
                "https://login.microsoftonline.com/{tenant-id}",
                "/oauth2/v2.0/authorize",
                "/oauth2/v2.0/token",
                "",
                "",
                "/discovery/v2.0/keys",
            ),
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "claim_picture": "",
            "claim_groups": "groups",
        },
        note="In Microsoft Entra ID: App registrations → New registration (Web); the callback URL below "
        "is its redirect URI; Certificates & secrets gives the client secret. Token configuration: add "
        "the email optional claim and a groups claim (group names need cloud groups or "
        "sAMAccountName). Entra ID sends no email_verified claim: with Email verification on, sign-in "
        "is refused; turn it off if your directory's addresses are trusted. There is no revocation "
        "endpoint.",
    ),
    "okta": Preset(
        params=(Param("okta-domain", "Okta domain", "your-org.okta.com"),),
        values={
            **OIDC_BASE,
            "issuer": "https://{okta-domain}/oauth2/default",
            **_endpoints(
                "https://{okta-domain}/oauth2/default/v1",
                "/authorize",
                "/token",
                "/revoke",
                "/userinfo",
                "/keys",
            ),
            "claim_groups": "groups",
        },
        note="In Okta Admin: Applications → Create App Integration → OIDC, Web Application; the "
        "callback URL below is its Sign-in redirect URI. For groups, add a groups claim to the "
        "default authorization server (Security → API → default → Claims).",
    ),
    "ping": Preset(
        params=(
            Param(
                "pingone-host",
                "PingOne auth host",
                "auth.pingone.com",
                help="auth.pingone.com, .eu, .asia or .ca, by region.",
            ),
            Param("environment-id", "Environment ID", "00000000-0000-0000-0000-000000000000"),
        ),
        values={
            **OIDC_BASE,
            "issuer": "https://{pingone-host}/{environment-id}/as",
            **_endpoints(
                "https://{pingone-host}/{environment-id}/as",
                "/authorize",
                "/token",
                "/revoke",
                "/userinfo",
                "/jwks",
            ),
            "claim_groups": "groups",
        },
        note="In PingOne: Applications → Add → OIDC Web App; the callback URL below is its redirect "
        "URI. Attribute Mappings: map email, name and, for groups, memberOfGroupNames as groups.",
    ),
    "custom": Preset(values={**OIDC_BASE}),
}

SAML_BASE = {
    "claim_user_id": "NameID",
    "claim_picture": "",
    "want_signed_assertions": True,
}

SAML_PRESETS = {
    "duo": Preset(
        values={
            **SAML_BASE,
            "claim_email": "Email",
            "claim_name": "DisplayName",
            "claim_given_name": "FirstName",
            "claim_family_name": "LastName",
            "claim_groups": "Groups",
        },
        note="In the Duo Admin Panel: Applications → Protect an Application → Generic SAML Service "
        "Provider. Give it the Entity ID and ACS URL below; Map attributes <Email Address> → Email, "
        "<Display Name> → DisplayName, <First Name> → FirstName, <Last Name> → LastName; Role attributes "
        "→ Groups. Download the XML metadata and upload it here.",
    ),
    "google": Preset(
        values={
            **SAML_BASE,
            "claim_email": "NameID",
            "claim_name": "",
            "claim_given_name": "firstName",
            "claim_family_name": "lastName",
            "claim_groups": "groups",
        },
        note="In the Google Admin console: Apps → Web and mobile apps → Add custom SAML app. Download "
        "the IdP metadata; give Google the ACS URL and Entity ID below, Name ID format EMAIL (Primary "
        "email). Attribute mapping: First name → firstName, Last name → lastName; Group membership → "
        "groups.",
    ),
    "jumpcloud": Preset(
        values={
            **SAML_BASE,
            "claim_email": "email",
            "claim_name": "",
            "claim_given_name": "firstname",
            "claim_family_name": "lastname",
            "claim_groups": "memberOf",
        },
        note="In JumpCloud: SSO Applications → Add New Application → Custom SAML App. SP Entity ID and "
        "ACS URL: the values below. User attributes: email → email, firstname → firstname, lastname "
        "→ lastname; Include group attribute memberOf. Export the metadata and upload it here.",
    ),
    "microsoft_ad": Preset(
        values={
            **SAML_BASE,
            "claim_email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "claim_name": "http://schemas.microsoft.com/identity/claims/displayname",
            "claim_given_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            "claim_family_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
            "claim_groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        },
        note="Microsoft Entra ID: Enterprise applications → New application → Create your own → SAML; "
        "Identifier (Entity ID) and Reply URL (ACS): the values below; download Federation Metadata XML. "
        "AD FS: add a Relying Party Trust with the same values; its metadata is at "
        "https://<adfs-host>/FederationMetadata/2007-06/FederationMetadata.xml.",
    ),
    "custom": Preset(
        values={
            **SAML_BASE,
            "claim_email": "email",
            "claim_name": "cn",
            "claim_given_name": "givenName",
            "claim_family_name": "sn",
            "claim_groups": "memberOf",
        },
    ),
}


def preset(protocol: str, provider: str) -> Preset:
    presets = OIDC_PRESETS if protocol == Protocol.OIDC else SAML_PRESETS
    return presets.get(provider, presets["custom"])
