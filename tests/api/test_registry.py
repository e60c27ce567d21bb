"""The endpoint registry other apps use."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from settings_portal.api import registry
from settings_portal.api.registry import endpoint


@pytest.fixture
def clean_name():
    yield "test.thing"
    registry.unregister("test.thing")


def test_a_real_registration_replaces_a_fallback_in_either_order(api, clean_name):
    def fallback(call):
        return {"from": "fallback"}

    def real(call):
        return {"from": "real"}

    endpoint(clean_name, auth=False, fallback=True)(fallback)
    endpoint(clean_name, auth=False)(real)
    assert api.call(clean_name)[1]["data"] == {"from": "real"}
    endpoint(clean_name, auth=False, fallback=True)(fallback)  # a late fallback does not win
    assert api.call(clean_name)[1]["data"] == {"from": "real"}


def test_registering_a_name_twice_is_an_error(clean_name):
    endpoint(clean_name)(lambda call: {})
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        endpoint(clean_name)(lambda call: {})


def test_versions_of_one_name(api, clean_name):
    endpoint(clean_name, auth=False)(lambda call: {"v": 1})
    endpoint(clean_name, auth=False, min_version="2.20")(lambda call: {"v": 2})
    assert api.call(clean_name, version="2.13")[1]["data"] == {"v": 1}
    assert api.call(clean_name, version="2.20")[1]["data"] == {"v": 2}
    assert api.call(clean_name)[1]["data"] == {"v": 2}


@pytest.mark.parametrize("name", ["nodot", "a.b.c", "1a.b", "a.", ".b", "a-b.c"])
def test_bad_names_are_refused(name):
    with pytest.raises(ImproperlyConfigured):
        endpoint(name)


def test_endpoint_returning_none_answers_empty_data(api, clean_name):
    endpoint(clean_name, auth=False)(lambda call: None)
    assert api.call(clean_name)[1]["data"] == {}


def test_the_portal_endpoints_are_registered(client):
    client.get("/api/debug.ping")  # loads the URLconf, which autodiscovers
    for name in [
        "auth.login",
        "auth.create_credentials",
        "auth.get_credentials",
        "auth.edit_credentials",
        "auth.revoke_credentials",
        "users.get_current_user",
        "users.get_preferences",
        "users.get_vaults",
        "debug.ping",
    ]:
        assert name in registry.names()


def test_endpoint_sees_the_call(api, member, workspace, member_key, member_token, clean_name):
    seen = {}

    @endpoint(clean_name)
    def inspect(call):
        seen.update(
            user=call.user,
            workspace=call.workspace,
            membership=call.membership,
            credential=call.credential,
            claims=call.claims,
            worker=call.headers.get("X-ClearML-Worker"),
            data=call.data,
        )
        return {}

    api.call(clean_name, {"x": 1}, token=member_token, headers={"X-ClearML-Worker": "box"})
    assert seen["user"] == member
    assert seen["workspace"] == workspace
    assert seen["membership"].user == member
    assert seen["credential"] == member_key[0]
    assert seen["claims"]["identity"]["user"] == member.id.hex
    assert seen["worker"] == "box"
    assert seen["data"] == {"x": 1}
