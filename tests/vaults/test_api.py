"""users.get_vaults through the real API stack (token, dispatcher, envelope)."""

import json

import pytest
from pyhocon import ConfigFactory

from access.models import GroupMembership
from tests.api.conftest import Api, _fresh_api_state  # noqa: F401  (autouse fixture)
from vaults import services
from workspaces.credentials import credential_create
from workspaces.models import Membership

QUERY = "enabled=true&types=config&types=config"  # what the SDK and the agent send


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def token(api, workspace, member):
    credential, secret = credential_create(workspace=workspace, actor=member, label="laptop")
    return api.login(credential.access_key, secret)


def get_vaults(api, token, query=QUERY, version=None):
    status, body = api.call("users.get_vaults", method="get", query=query, token=token, version=version)
    assert status == 200, body
    return body["data"]["vaults"]


@pytest.fixture
def setup(workspace, owner, member, groups, research):
    everyone = services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Everyone",
        group=groups["users"],
        fmt="hocon",
        content="sdk.aws.s3 { region: us-east-1, key: BASE }\nsdk.level: group",
    )
    team = services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Research",
        group=research,
        fmt="yaml",
        content="sdk:\n  aws:\n    s3:\n      region: eu-west-1\n  nested:\n    deep:\n      list: [1, 2]\n",
    )
    services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Off",
        group=groups["users"],
        fmt="hocon",
        content="sdk.off: 1",
        enabled=False,
    )
    services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Admins",
        group=groups["admins"],
        fmt="hocon",
        content="sdk.admins: 1",
    )
    own = services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="json", content='{"sdk": {"level": "user"}}'
    )
    services.vault_set_enabled(vault=own, actor=member, enabled=True)
    return everyone, team, own


def test_get_vaults_lists_the_applicable_enabled_vaults_in_precedence_order(api, token, setup):
    everyone, team, own = setup
    vaults = get_vaults(api, token)
    assert [v["id"] for v in vaults] == [everyone.pk.hex, team.pk.hex, own.pk.hex]
    assert [v["scope"] for v in vaults] == ["group", "group", "user"]
    assert [v["format"] for v in vaults] == ["hocon", "json", "json"]
    assert all(v["type"] == "config" and v["enabled"] is True for v in vaults)
    assert (
        vaults[0]["description"] == "Everyone" and vaults[2]["description"] == "Personal configuration vault"
    )
    assert set(vaults[0]) == {"id", "scope", "type", "format", "enabled", "description", "data"}
    # Merged as the clients do (HOCON parser, list order, later wins):
    merged = ConfigFactory.parse_string("")
    for vault in vaults:
        merged = ConfigFactory.parse_string(vault["data"]).with_fallback(merged)
    assert merged.get("sdk.aws.s3.region") == "eu-west-1"
    assert merged.get("sdk.aws.s3.key") == "BASE"
    assert merged.get("sdk.level") == "user"
    assert merged.get("sdk.nested.deep.list") == [1, 2]


def test_versioned_paths_and_post_work_too(api, token, setup):
    assert len(get_vaults(api, token, version="2.31")) == 3
    status, body = api.call("users.get_vaults", {"enabled": True, "types": ["config"]}, token=token)
    assert status == 200 and len(body["data"]["vaults"]) == 3


def test_filters(api, token, setup):
    assert len(get_vaults(api, token, query="")) == 4  # enabled and disabled
    disabled = get_vaults(api, token, query="enabled=false")
    assert [v["description"] for v in disabled] == ["Off"]
    assert get_vaults(api, token, query="types=secrets") == []


def test_a_lost_group_stops_applying_at_the_next_call(api, token, setup, research, member):
    assert len(get_vaults(api, token)) == 3
    GroupMembership.objects.filter(group=research, user=member).delete()
    assert [v["description"] for v in get_vaults(api, token)] == ["Everyone", "Personal configuration vault"]


def test_an_admin_gets_the_admins_group_vaults(api, workspace, admin_member, setup):
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    token = api.login(credential.access_key, secret)
    assert [v["description"] for v in get_vaults(api, token)] == ["Everyone", "Admins"]


def test_a_former_member_gets_nothing(api, token, setup, workspace, member):
    # A token issued before the membership ended (its credentials not yet revoked) gets no vault.
    Membership.objects.filter(workspace=workspace, user=member).delete()
    assert get_vaults(api, token) == []


def test_vaults_of_another_workspace_never_leak(api, owner, member, setup):
    from tests.factories import make_workspace

    other = make_workspace(owner=owner, name="Other", members={member: 10})
    credential, secret = credential_create(workspace=other, actor=member)
    token = api.login(credential.access_key, secret)
    assert get_vaults(api, token) == []


def test_empty_vaults_are_not_served(api, token, workspace, member):
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    assert get_vaults(api, token) == []


def test_needs_a_token(api):
    assert api.call("users.get_vaults", method="get", query=QUERY)[0] == 401


def test_data_is_json_for_yaml(api, token, setup):
    data = get_vaults(api, token)[1]["data"]
    assert json.loads(data)["sdk"]["nested"]["deep"]["list"] == [1, 2]
