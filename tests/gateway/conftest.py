"""A workspace linked to an upstream stand-in (tests/upstream/standin.py), and API helpers."""

import json

import pytest

from accounts import api as accounts_api
from gateway import cache, services
from settings_portal.api import authentication
from tests.api.conftest import Api, basic  # noqa: F401
from tests.upstream.client import ApiClient
from tests.upstream.fixtures import clearml_upstream, clearml_upstream_factory, upstream_as  # noqa: F401
from workspaces import revocation
from workspaces.credentials import credential_create


@pytest.fixture(autouse=True)
def _fresh_gateway_state(settings):
    """Every process-wide cache starts empty (ids repeat across test databases)."""
    revocation.reset()
    cache.reset()
    authentication.reset_last_used_throttle()
    accounts_api.profile_cache_clear()
    settings.PORTAL_UPSTREAM_READ_TIMEOUT = 3.0
    settings.PORTAL_UPSTREAM_CONNECT_TIMEOUT = 1.0
    if settings.REDIS_URL:  # as in a warmed-up server process
        assert revocation.wait_listening(timeout=5), "the revocation listener did not subscribe"
    yield
    cache.reset()
    revocation.reset()


def link(workspace, standin, actor=None):
    return services.link_create(
        workspace=workspace,
        url=standin.url,
        token_secret=standin.token_secret,
        system_access_key=standin.system_access_key,
        system_secret_key=standin.system_secret_key,
        actor=actor,
    )


@pytest.fixture
def standin(clearml_upstream_factory):  # noqa: F811
    """A started stand-in (its own company, system credential and token secret)."""
    return clearml_upstream_factory(token_secret="gateway-tests-token-secret-0123456789")


@pytest.fixture
def linked(workspace, owner, standin):
    """`workspace` linked to the stand-in."""
    return link(workspace, standin, owner)


@pytest.fixture
def api(client):
    return GatewayApi(client)


class GatewayApi(Api):
    def send(
        self,
        name,
        body=b"",
        *,
        token=None,
        method="post",
        version=None,
        query="",
        headers=None,
        content_type="application/json",
    ):
        """The raw Django response (streamed ones joined)."""
        path = f"/api/v{version}/{name}" if version else f"/api/{name}"
        if query:
            path += "?" + query
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.generic(method.upper(), path, body, content_type=content_type, headers=headers)
        if response.streaming:
            response.content_bytes = b"".join(response.streaming_content)
        else:
            response.content_bytes = response.content
        return response

    def json_of(self, response):
        return json.loads(response.content_bytes)


@pytest.fixture
def member_key(workspace, member):
    return credential_create(workspace=workspace, actor=member, label="laptop")


@pytest.fixture
def member_token(api, member_key):
    credential, secret = member_key
    return api.login(credential.access_key, secret)


@pytest.fixture
def world(linked, standin, workspace, owner):
    """Vision > Vision/Detection with a task, a model and a dataset (a version task) in it; a sibling
    task; Other with a task; two queues. Created by the server's system user."""
    system = ApiClient(standin.url, token=standin.system_token())
    ids = {}
    ids["vision"] = system.ok("projects.create", name="Vision")["id"]
    ids["detection"] = system.ok("projects.create", name="Vision/Detection")["id"]
    ids["other"] = system.ok("projects.create", name="Other")["id"]
    ids["task"] = system.ok("tasks.create", name="train-detector", type="training", project=ids["detection"])[
        "id"
    ]
    ids["sibling"] = system.ok(
        "tasks.create", name="sibling-task", type="training", project=ids["detection"]
    )["id"]
    ids["other_task"] = system.ok("tasks.create", name="other-task", type="training", project=ids["other"])[
        "id"
    ]
    ids["model"] = system.ok("models.create", name="detector-v1", project=ids["detection"], task=ids["task"])[
        "id"
    ]
    ids["dataset"] = system.ok(
        "projects.create", name="Vision/Detection/.datasets/cats", system_tags=["hidden", "dataset"]
    )["id"]
    ids["version"] = system.ok(
        "tasks.create",
        name="cats v1",
        type="data_processing",
        project=ids["dataset"],
        system_tags=["dataset"],
    )["id"]
    ids["queue"] = system.ok("queues.create", name="gpu-pool")["id"]
    ids["queue2"] = system.ok("queues.create", name="cpu-pool")["id"]
    system.close()
    return ids
