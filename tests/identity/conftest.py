import functools

import pytest

from identity.models import IdentityConnection

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@functools.cache
def _idp_certificate() -> str:
    from .saml_idp import self_signed

    pem = self_signed("idp.example.com")[1].decode()
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def idp_metadata(location: str = "https://idp.example.com/sso", binding: str = REDIRECT) -> str:
    """Minimal IdP metadata: an entity, its signing certificate and one single sign-on service."""
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.com">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{_idp_certificate()}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleSignOnService Binding="{binding}" Location="{location}"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"""


@pytest.fixture
def allow_private(settings):
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    return settings


def make_connection(workspace, **extra) -> IdentityConnection:
    values = {
        "protocol": "oidc",
        "provider": "custom",
        "name": "Acme SSO",
        "issuer": "https://idp.example.com",
        "client_id": "portal",
        "client_secret": "top-secret-value",
        "authorization_endpoint": "https://idp.example.com/authorize",
        "token_endpoint": "https://idp.example.com/token",
        "jwks_uri": "https://idp.example.com/jwks",
    }
    values.update(extra)
    return IdentityConnection.objects.create(workspace=workspace, **values)


@pytest.fixture
def connection(workspace):
    return make_connection(workspace)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    from .provider import Provider

    provider = Provider(tmp_path_factory.mktemp("idp")).start()
    yield provider
    provider.stop()


@pytest.fixture
def oidc_settings(settings):
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    settings.PORTAL_BASE_URL = "http://testserver"
    return settings


@pytest.fixture(autouse=True)
def _authlib_insecure_transport(monkeypatch):
    # The provider runs on plain http in tests only (pitfall 4).
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def oidc_connection(workspace, provider, *, pk=None, client_id="portal-a", secret="secret-a", **extra):
    from .provider import CONN_A

    values = {
        "pk": pk or CONN_A,
        "name": "Provider A",
        "enabled": True,
        "issuer": provider.issuer,
        "client_id": client_id,
        "client_secret": secret,
        "authorization_endpoint": f"{provider.issuer}/authorize/",
        "token_endpoint": f"{provider.issuer}/token/",
        "userinfo_endpoint": f"{provider.issuer}/userinfo/",
        "jwks_uri": f"{provider.issuer}/.well-known/jwks.json",
    }
    values.update(extra)
    return make_connection(workspace, **values)


@pytest.fixture(scope="session")
def saml_idp(tmp_path_factory):
    from .saml_idp import IdP

    idp = IdP(tmp_path_factory.mktemp("saml-idp")).start()
    yield idp
    idp.stop()


def saml_connection(workspace, idp, **extra):
    from .saml_idp import CONN_S

    values = {
        "pk": CONN_S,
        "protocol": "saml",
        "name": "Corp SAML",
        "enabled": True,
        "issuer": "",
        "client_id": "",
        "client_secret": "",
        "authorization_endpoint": "",
        "token_endpoint": "",
        "jwks_uri": "",
        "idp_metadata": idp.metadata,
        "claim_user_id": "NameID",
        "claim_email": "mail",
        "claim_name": "cn",
    }
    values.update(extra)
    return make_connection(workspace, **values)
