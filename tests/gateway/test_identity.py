"""Who the upstream sees: revocation and removal stop forwarded calls at once (while the upstream
would still accept the old upstream token), impersonated tokens act as the owner upstream, and
an upstream user id in X-ClearML-Impersonate-As (what clearml-agent sends) names the portal user."""

import pytest

from access import services as access_services
from gateway.models import UpstreamUser
from tests.upstream.client import ApiClient
from workspaces.credentials import credential_revoke

from .test_forwarding import claims_of

pytestmark = pytest.mark.django_db

IMPERSONATE = "X-ClearML-Impersonate-As"


def last_upstream_token(standin, endpoint: str) -> str:
    return standin.requests_for(endpoint)[-1].header("Authorization").split(" ", 1)[1]


def test_a_revoked_credential_gets_401_while_the_upstream_would_still_accept_its_token(
    api, linked, member, member_key, member_token, standin, django_capture_on_commit_callbacks
):
    assert api.call("projects.get_all", {}, token=member_token)[0] == 200
    old_upstream_token = last_upstream_token(standin, "projects.get_all")
    credential, _ = member_key
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke(credential=credential, actor=member)
    standin.clear_requests()
    status, body = api.call("projects.get_all", {}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (401, 31)
    assert not standin.requests  # nothing reached the upstream
    # The upstream itself revokes nothing: the token the portal had used is still good there.
    direct = ApiClient(standin.url, token=old_upstream_token).call("projects.get_all", {})
    assert direct.status == 200


def test_a_removed_members_calls_stop_and_their_work_stays(
    api, linked, workspace, owner, member, member_token, standin, django_capture_on_commit_callbacks
):
    project = api.call("projects.create", {"name": "Kept work"}, token=member_token)[1]["data"]["id"]
    mapped = UpstreamUser.objects.get(user=member, link=linked)
    with django_capture_on_commit_callbacks(execute=True):
        access_services.member_remove(workspace=workspace, actor=owner, user=member)
    assert api.call("projects.get_all", {}, token=member_token)[0] == 401
    assert mapped.upstream_id in standin.state.users  # the upstream user stays
    assert standin.state.projects[project]["user"] == mapped.upstream_id  # and what they logged


@pytest.fixture
def agent_account(workspace, owner):
    account, credential, secret = access_services.service_account_create(
        workspace=workspace, actor=owner, name="gpu-agents", allow_impersonation=True
    )
    return account, credential, secret


def test_an_impersonated_token_acts_upstream_as_the_owner_with_a_users_role(
    api, linked, workspace, admin_member, agent_account, standin
):
    from workspaces.credentials import credential_create

    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    admin_token = api.login(credential.access_key, secret)
    api.call("projects.get_all", {}, token=admin_token)  # the owner exists upstream
    owner_upstream = UpstreamUser.objects.get(user=admin_member, link=linked).upstream_id

    _, agent_credential, agent_secret = agent_account
    agent_token = api.login(agent_credential.access_key, agent_secret)
    # clearml-agent names the task's owner by the id the upstream gave it.
    status, body = api.call("auth.login", token=agent_token, headers={IMPERSONATE: owner_upstream})
    assert status == 200, body
    owner_token = body["data"]["token"]
    assert claims_of(owner_token)["identity"]["user"] == admin_member.id.hex  # a portal token of the owner
    assert claims_of(owner_token)["impersonated_by"]

    standin.clear_requests()
    assert api.call("projects.get_all", {}, token=owner_token, headers={IMPERSONATE: "x"})[0] == 200
    seen = standin.requests_for("projects.get_all")[-1]
    identity = claims_of(last_upstream_token(standin, "projects.get_all"))["identity"]
    assert identity["user"] == owner_upstream and identity["role"] == "user"  # never the admin's rights
    assert seen.effective_identity.user == owner_upstream
    assert "x-clearml-impersonate-as" not in seen.header_names()


def test_an_upstream_id_of_another_workspaces_server_names_nobody(
    api, linked, workspace, owner, agent_account, clearml_upstream_factory
):
    from tests.factories import UserFactory, make_workspace
    from workspaces.credentials import credential_create

    from .conftest import link

    stranger = UserFactory(username="stranger")
    other = make_workspace(owner=stranger, name="Elsewhere")
    other_standin = clearml_upstream_factory(token_secret="another-server-token-secret-0123")
    link(other, other_standin, stranger)
    credential, secret = credential_create(workspace=other, actor=stranger)
    api.call("projects.get_all", {}, token=api.login(credential.access_key, secret))
    stranger_upstream = UpstreamUser.objects.get(user=stranger).upstream_id

    _, agent_credential, agent_secret = agent_account
    agent_token = api.login(agent_credential.access_key, agent_secret)
    status, body = api.call("auth.login", token=agent_token, headers={IMPERSONATE: stranger_upstream})
    assert status == 403, body
