"""Two workspaces linked to two ClearML servers: nothing of one reaches the other, through any
endpoint, even for a person who is a member of both."""

import json

import pytest

from tests.factories import UserFactory, make_workspace
from tests.upstream.standin_services import ENDPOINTS
from workspaces.credentials import credential_create
from workspaces.models import Role

from .conftest import link

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_servers(workspace, owner, member, clearml_upstream_factory):
    server_a = clearml_upstream_factory(token_secret="server-a-token-secret-0123456789")
    server_b = clearml_upstream_factory(token_secret="server-b-token-secret-0123456789")
    link(workspace, server_a, owner)
    bob = UserFactory(username="bob")
    other = make_workspace(owner=bob, name="Other team", members={member: Role.MEMBER})
    link(other, server_b, bob)
    return server_a, server_b, other, bob


def token_in(api, workspace, user) -> str:
    credential, secret = credential_create(workspace=workspace, actor=user)
    return api.login(credential.access_key, secret)


def test_nothing_of_one_workspace_reaches_the_other(api, workspace, member, two_servers):
    server_a, server_b, other, bob = two_servers
    token_a = token_in(api, workspace, member)  # the member of both, with workspace A's key
    token_b = token_in(api, other, bob)
    token_member_b = token_in(api, other, member)  # the same person, with workspace B's key

    project = api.call("projects.create", {"name": "Secret project"}, token=token_a)[1]["data"]["id"]
    task = api.call(
        "tasks.create", {"name": "secret-task", "type": "training", "project": project}, token=token_a
    )[1]["data"]["id"]
    api.call("tasks.enqueue", {"task": task, "queue": server_a.default_queue_id}, token=token_a)
    api.send(
        "events.add_batch",
        json.dumps({"type": "log", "task": task, "msg": "secret log line"}).encode(),
        token=token_a,
        content_type="application/json-lines",
    )
    a_ids = {project, task, server_a.default_queue_id}
    a_secrets = {server_a.company_id, "Secret project", "secret-task", "secret log line"}
    a_requests = len(server_a.requests)

    # Every endpoint the upstream serves, called from workspace B with A's ids in the body.
    names = sorted(
        name for name in ENDPOINTS if not name.startswith(("auth.", "users.create", "users.update"))
    )
    body = {
        "id": [project, task],
        "task": task,
        "tasks": [task],
        "project": project,
        "queue": server_a.default_queue_id,
    }
    for token in (token_b, token_member_b):
        for name in names:
            response = api.send(name, json.dumps(body), token=token)
            text = response.content_bytes.decode(errors="replace")
            assert not any(found in text for found in a_secrets), (name, text[:300])
            if response.status_code == 200:  # errors may echo the ids sent, answers never name them
                assert not any(found in text for found in a_ids), (name, text[:300])
    assert len(server_a.requests) == a_requests  # nothing from B reached server A
    b_identities = {r.effective_identity.company for r in server_b.requests if r.effective_identity}
    assert b_identities == {server_b.company_id}

    # And the other way round: A sees nothing of B's.
    b_project = api.call("projects.create", {"name": "B project"}, token=token_b)[1]["data"]["id"]
    listed = api.call("projects.get_all", {}, token=token_a)[1]["data"]["projects"]
    assert b_project not in {p["id"] for p in listed}
    assert (api.call("projects.get_by_id", {"project": b_project}, token=token_a)[0]) == 400


def test_a_servers_company_is_linked_to_one_workspace_only(api, workspace, owner, member, two_servers):
    from django.core.exceptions import ValidationError

    server_a, _, _, bob = two_servers
    third = make_workspace(owner=bob, name="Third")
    with pytest.raises(ValidationError, match="already linked to another workspace"):
        link(third, server_a, bob)
