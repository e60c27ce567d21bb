import base64
import json

import pytest

from accounts import api as accounts_api
from gateway import cache as gateway_cache
from settings_portal.api import authentication
from workspaces import revocation
from workspaces.credentials import credential_create

API = "/api"


@pytest.fixture(autouse=True)
def _fresh_api_state(settings):
    """Process-wide caches start empty in every test (ids repeat across test databases),
    and the revocation listener is subscribed, as in a warmed-up server process: a
    revoke must then reach the cache through publish_revoked after the commit (tests
    run it with `django_capture_on_commit_callbacks(execute=True)`)."""
    revocation.reset()
    gateway_cache.reset()
    authentication.reset_last_used_throttle()
    accounts_api.profile_cache_clear()
    if settings.REDIS_URL:
        assert revocation.wait_listening(timeout=5), "the revocation listener did not subscribe"
    yield
    revocation.reset()


def basic(access_key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{access_key}:{secret}".encode()).decode()


class Api:
    """Calls /api/<name> through the Django test client and returns (status, body)."""

    def __init__(self, client):
        self.client = client

    def call(
        self,
        name,
        data=None,
        *,
        token=None,
        auth=None,
        method="post",
        version=None,
        query="",
        headers=None,
        **extra,
    ):
        path = f"{API}/v{version}/{name}" if version else f"{API}/{name}"
        if query:
            path += "?" + query
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if auth:
            headers["Authorization"] = auth
        body = data if isinstance(data, (str, bytes)) else ("" if data is None else json.dumps(data))
        response = self.client.generic(
            method.upper(),
            path,
            body,
            content_type=extra.pop("content_type", "application/json"),
            headers=headers,
        )
        return response.status_code, response.json()

    def login(self, access_key, secret, **kwargs):
        status, body = self.call("auth.login", auth=basic(access_key, secret), **kwargs)
        assert status == 200, body
        return body["data"]["token"]


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def member_key(workspace, member):
    """A key pair of `member` in `workspace`: (credential, secret)."""
    return credential_create(workspace=workspace, actor=member, label="laptop")


@pytest.fixture
def member_token(api, member_key):
    credential, secret = member_key
    return api.login(credential.access_key, secret)
