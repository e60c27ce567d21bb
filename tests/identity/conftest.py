import pytest

from identity.models import IdentityConnection


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
