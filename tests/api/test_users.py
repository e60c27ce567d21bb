"""users.get_current_user, users.get_preferences, the users.get_vaults placeholder, debug.ping."""

from accounts import api as accounts_api
from accounts.models import UserPreferences


def test_current_user_shape(api, member, workspace, member_token):
    status, body = api.call("users.get_current_user", token=member_token)
    assert status == 200
    user = body["data"]["user"]
    assert user["id"] == member.id.hex
    assert user["name"] == "member"
    assert user["email"] == "member@example.com"
    assert user["company"] == {"id": workspace.id.hex, "name": "Team"}
    assert user["role"] == "user"
    assert user["workspace_role"] == "member"
    assert user["service_account_type"] == 0


def test_current_user_includes_the_configuration_preferences(api, member, member_token):
    UserPreferences.objects.filter(user=member).update(hide_examples=True, hidden_container_args=["MY_TOKEN"])
    prefs = api.call("users.get_current_user", token=member_token)[1]["data"]["user"]["preferences"]
    assert prefs["hide_examples"] is True
    assert prefs["block_scripts"] is False
    assert prefs["hidden_container_args"] == ["MY_TOKEN"]
    assert api.call("users.get_preferences", token=member_token)[1]["data"]["preferences"] == prefs


def test_current_user_is_served_from_a_short_lived_snapshot(
    api, member, member_token, monkeypatch, django_assert_num_queries
):
    api.call("users.get_current_user", token=member_token)
    with django_assert_num_queries(0):  # token verified in memory, profile cached, last_used throttled
        assert api.call("users.get_current_user", token=member_token)[0] == 200
    member.username = "renamed"
    member.save(update_fields=["username"])
    monkeypatch.setattr(accounts_api, "PROFILE_TTL", 0.0)
    accounts_api.profile_cache_clear()
    assert api.call("users.get_current_user", token=member_token)[1]["data"]["user"]["name"] == "renamed"


def test_admin_role_reflects_the_membership(api, workspace, admin_member):
    from workspaces.credentials import credential_create

    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    token = api.login(credential.access_key, secret)
    user = api.call("users.get_current_user", token=token)[1]["data"]["user"]
    assert (user["role"], user["workspace_role"]) == ("admin", "admin")


def test_get_vaults_placeholder_answers_no_vaults(api, member_token):
    """Without the vaults app's endpoint, the portal's placeholder answers."""
    from settings_portal.api import registry

    with registry.replaced("users.get_vaults"):
        registry.endpoint("users.get_vaults", fallback=True)(accounts_api.get_vaults_placeholder)
        status, body = api.call(
            "users.get_vaults",
            method="get",
            query="enabled=true&types=config&types=config",
            token=member_token,
        )
    assert (status, body["data"]) == (200, {"vaults": []})


def test_get_vaults_needs_a_token(api):
    assert api.call("users.get_vaults")[0] == 401


def test_ping_needs_no_token(api):
    status, body = api.call("debug.ping", method="get")
    assert status == 200
    assert body["data"]["msg"]
