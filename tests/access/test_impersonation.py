"""Impersonation through the API (auth.login + X-ClearML-Impersonate-As), as clearml-agent does it."""

import base64
import json

import pytest

from access import services
from access.impersonation import ImpersonationDenied, impersonation_check, parse_user_id
from access.selectors import builtin_groups
from accounts import api as accounts_api
from settings_portal.api import authentication
from tests.api.conftest import Api, basic
from workspaces import revocation
from workspaces.credentials import credential_create, credential_revoke
from workspaces.models import Role

IMPERSONATE = "X-ClearML-Impersonate-As"


@pytest.fixture(autouse=True)
def _fresh_api_state(settings):
    revocation.reset()
    authentication.reset_last_used_throttle()
    accounts_api.profile_cache_clear()
    if settings.REDIS_URL:
        assert revocation.wait_listening(timeout=5)
    yield
    revocation.reset()


@pytest.fixture
def api(client):
    return Api(client)


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def login(api, account) -> str:
    return api.login(account.first_credential.access_key, account.first_secret)


def impersonate(api, token, target, **headers):
    return api.call("auth.login", token=token, headers={IMPERSONATE: target, **headers})


def test_service_account_tokens_say_what_they_are(api, service_account, plain_service_account):
    """The agent accepts --use-owner-token only with service_account_type >= 2 (or an admin role)."""
    identity = claims_of(login(api, service_account))["identity"]
    assert identity["service_account_type"] == 2
    assert identity["role"] == "user"
    assert identity["user"] == service_account.user_id.hex
    assert claims_of(login(api, plain_service_account))["identity"]["service_account_type"] == 1


def test_agent_use_owner_token_check_passes_only_for_impersonating_accounts(
    api, service_account, plain_service_account
):
    """The real clearml-agent's check (Worker._use_owner_token) run on our tokens."""
    from clearml_agent.backend_api.session.token_manager import TokenManager
    from clearml_agent.commands.worker import Worker

    class FakeSession:
        feature_set = "advanced"

        def __init__(self, token):
            self.token = token

        def check_min_api_version(self, version):
            return tuple(map(int, claims_of(self.token)["api_version"].split("."))) >= (2, 14)

        def get_decoded_token(self, token):
            return TokenManager.get_decoded_token(token)

    class FakeWorker:
        def __init__(self, token):
            self._session = FakeSession(token)

    Worker._use_owner_token(FakeWorker(login(api, service_account)), use_owner_token=True)
    with pytest.raises(ValueError, match="not suitable for --use-owner-token"):
        Worker._use_owner_token(FakeWorker(login(api, plain_service_account)), use_owner_token=True)


def test_impersonating_service_account_gets_a_token_for_the_task_owner(
    api, service_account, member, workspace
):
    token = login(api, service_account)
    status, body = impersonate(api, token, member.id.hex)
    assert status == 200, body
    claims = claims_of(body["data"]["token"])
    assert claims["identity"] == {
        "user": member.id.hex,
        "company": workspace.id.hex,
        "role": "user",
        "user_name": "member",
        "company_name": "Team",
        "service_account_type": 0,
    }
    assert claims["tenant"] == workspace.id.hex  # the agent then skips the X-ClearML-Tenant round
    assert claims["credential_id"] == service_account.first_credential.pk
    assert claims["impersonated_by"] == service_account.user_id.hex
    # The token acts as the owner: the API sees the member, never the service account.
    status, body = api.call("users.get_current_user", token=body["data"]["token"])
    assert status == 200
    assert body["data"]["user"]["id"] == member.id.hex
    assert body["data"]["user"]["name"] == "member"


def test_impersonation_works_with_the_key_pair_too(api, service_account, member):
    status, body = api.call(
        "auth.login",
        auth=basic(service_account.first_credential.access_key, service_account.first_secret),
        headers={IMPERSONATE: member.id.hex},
    )
    assert status == 200
    assert claims_of(body["data"]["token"])["identity"]["user"] == member.id.hex


def test_impersonated_admin_gets_the_owners_identity_with_a_members_role(
    api, service_account, admin_member, owner
):
    """The owner's identity, the role capped at member (the seed: impersonating an admin does
    not give the task's code admin privileges); the service account's own type never leaks."""
    token = login(api, service_account)
    for target in (admin_member, owner):
        status, body = impersonate(api, token, target.id.hex)
        assert status == 200
        identity = claims_of(body["data"]["token"])["identity"]
        assert (identity["user"], identity["role"], identity["service_account_type"]) == (
            target.id.hex,
            "user",
            0,
        )


def test_dashed_uuid_is_accepted_as_the_user_id(api, service_account, member):
    status, body = impersonate(api, login(api, service_account), str(member.id))
    assert status == 200
    assert claims_of(body["data"]["token"])["identity"]["user"] == member.id.hex


def test_service_account_without_impersonation_is_refused_with_a_clear_message(
    api, plain_service_account, member
):
    status, body = impersonate(api, login(api, plain_service_account), member.id.hex)
    assert status == 403
    message = body["meta"]["result_msg"]
    assert "ci-bot" in message and "Allow impersonation" in message
    assert body["data"] in ({}, None) or "token" not in body["data"]


def test_plain_members_cannot_impersonate_but_admins_can(api, workspace, member, admin_member, owner):
    credential, secret = credential_create(workspace=workspace, actor=member)
    status, body = impersonate(api, api.login(credential.access_key, secret), owner.id.hex)
    assert status == 403 and "Only service accounts" in body["meta"]["result_msg"]
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    status, body = impersonate(api, api.login(credential.access_key, secret), member.id.hex)
    assert status == 200
    assert claims_of(body["data"]["token"])["identity"]["user"] == member.id.hex


def test_an_admin_service_account_may_impersonate_without_the_flag(api, plain_service_account, owner, member):
    services.group_add_member(
        group=builtin_groups(workspace=plain_service_account.workspace)["admins"],
        actor=owner,
        user=plain_service_account.user,
    )
    status, _ = impersonate(api, login(api, plain_service_account), member.id.hex)
    assert status == 200


def test_only_members_of_the_same_workspace_can_be_impersonated(api, service_account, outsider, member):
    token = login(api, service_account)
    status, body = impersonate(api, token, outsider.id.hex)
    assert status == 403 and "not a member" in body["meta"]["result_msg"]
    for bad in ["", "not-a-user-id", "0" * 32, "x" * 200]:
        status, body = impersonate(api, token, bad)
        assert status == 403, bad
    member.is_active = False
    member.save()
    status, _ = impersonate(api, token, member.id.hex)
    assert status == 403


def test_a_service_account_of_another_workspace_cannot_reach_this_one(api, outsider, member):
    from workspaces.selectors import personal_workspace_get

    other = personal_workspace_get(user=outsider)
    _, credential, secret = services.service_account_create(
        workspace=other, actor=outsider, name="theirs", allow_impersonation=True
    )
    token = api.login(credential.access_key, secret)
    status, body = impersonate(api, token, member.id.hex)
    assert status == 403 and "not a member" in body["meta"]["result_msg"]


def test_tenant_header_must_name_the_same_workspace(api, service_account, member, workspace, outsider):
    from workspaces.selectors import personal_workspace_get

    token = login(api, service_account)
    status, _ = impersonate(api, token, member.id.hex, **{"X-ClearML-Tenant": workspace.id.hex})
    assert status == 200
    other = personal_workspace_get(user=outsider)
    status, body = impersonate(api, token, member.id.hex, **{"X-ClearML-Tenant": other.id.hex})
    assert status == 403 and "own workspace" in body["meta"]["result_msg"]


def test_turning_impersonation_off_stops_new_impersonation(api, service_account, owner, member):
    token = login(api, service_account)
    services.service_account_update(account=service_account, actor=owner, allow_impersonation=False)
    status, _ = impersonate(api, token, member.id.hex)
    assert status == 403
    assert claims_of(login(api, service_account))["identity"]["service_account_type"] == 1


def test_revoking_or_deleting_the_service_account_blocks_impersonated_tokens(
    api, service_account, owner, member, django_capture_on_commit_callbacks
):
    token = login(api, service_account)
    status, body = impersonate(api, token, member.id.hex)
    assert status == 200
    owner_token = body["data"]["token"]
    assert api.call("users.get_current_user", token=owner_token)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.service_account_delete(account=service_account, actor=owner)
    status, body = api.call("users.get_current_user", token=owner_token)
    assert (status, body["meta"]["result_subcode"]) == (401, 31)
    status, body = api.call(
        "auth.login", auth=basic(service_account.first_credential.access_key, service_account.first_secret)
    )
    assert (status, body["meta"]["result_subcode"]) == (401, 22)


def test_revoking_one_credential_blocks_the_tokens_it_obtained(
    api, service_account, owner, member, django_capture_on_commit_callbacks
):
    status, body = impersonate(api, login(api, service_account), member.id.hex)
    assert status == 200
    owner_token = body["data"]["token"]
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke(credential=service_account.first_credential, actor=owner)
    assert api.call("users.get_current_user", token=owner_token)[0] == 401


def test_impersonated_token_loads_the_owners_vaults_not_the_service_accounts(
    api, service_account, member, workspace
):
    from vaults import services as vault_services

    vault_services.user_vault_save(
        workspace=workspace,
        user=member,
        actor=member,
        fmt="hocon",
        content="sdk { owner_only { answer: 42 } }",
    )
    vault_services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    token = login(api, service_account)
    status, body = api.call("users.get_vaults", token=token, query="enabled=true&types=config")
    assert status == 200 and body["data"]["vaults"] == []
    status, body = impersonate(api, token, member.id.hex)
    assert status == 200
    status, body = api.call(
        "users.get_vaults", token=body["data"]["token"], query="enabled=true&types=config", method="get"
    )
    assert status == 200
    assert [vault["data"] for vault in body["data"]["vaults"]] == ["sdk { owner_only { answer: 42 } }"]


def test_impersonation_check_rules_directly(
    workspace, service_account, plain_service_account, member, admin_member
):
    result = impersonation_check(caller=service_account.user, workspace_id=workspace.id, target=member.id.hex)
    assert result.user == member and result.membership.role == Role.MEMBER
    with pytest.raises(ImpersonationDenied):
        impersonation_check(
            caller=plain_service_account.user, workspace_id=workspace.id, target=member.id.hex
        )
    with pytest.raises(ImpersonationDenied):
        impersonation_check(caller=member, workspace_id=workspace.id, target=admin_member.id.hex)
    assert parse_user_id(member.id.hex) == member.id
    assert parse_user_id("nope") is None
