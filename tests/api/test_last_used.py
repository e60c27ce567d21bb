"""last_used / last_used_from without a write per request."""

from settings_portal.api import authentication
from workspaces.models import Credential

from .conftest import basic


def test_login_records_last_used_and_from_where(api, member_key):
    credential, secret = member_key
    assert credential.last_used_at is None
    api.call(
        "auth.login", auth=basic(credential.access_key, secret), headers={"X-ClearML-Worker": "gpu-box-1"}
    )
    credential.refresh_from_db()
    assert credential.last_used_at is not None
    assert credential.last_used_from == "gpu-box-1 (127.0.0.1)"


def test_without_worker_header_the_address_is_recorded(api, member_key):
    credential, secret = member_key
    api.login(credential.access_key, secret)
    credential.refresh_from_db()
    assert credential.last_used_from == "127.0.0.1"


def test_authenticated_calls_write_at_most_once_per_interval(
    api, member_key, member_token, django_assert_num_queries
):
    credential, _ = member_key
    credential.refresh_from_db()
    first = credential.last_used_at
    api.call("users.get_current_user", token=member_token)  # warms the caches (login already wrote)
    with django_assert_num_queries(0):
        for _ in range(5):
            assert api.call("users.get_current_user", token=member_token)[0] == 200
    credential.refresh_from_db()
    assert credential.last_used_at == first


def test_after_the_interval_a_call_updates_last_used(api, member_key, member_token, monkeypatch):
    credential, _ = member_key
    Credential.objects.filter(pk=credential.pk).update(last_used_at=None, last_used_from="")
    monkeypatch.setattr(authentication, "LAST_USED_INTERVAL", 0.0)
    api.call("users.get_current_user", token=member_token, headers={"X-ClearML-Worker": "laptop"})
    credential.refresh_from_db()
    assert credential.last_used_at is not None
    assert credential.last_used_from == "laptop (127.0.0.1)"


def test_long_worker_names_are_cut(api, member_key):
    credential, secret = member_key
    api.call("auth.login", auth=basic(credential.access_key, secret), headers={"X-ClearML-Worker": "w" * 400})
    credential.refresh_from_db()
    assert len(credential.last_used_from) == 255


def test_behind_a_trusted_proxy_the_forwarded_address_is_recorded(api, member_key, settings):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    credential, secret = member_key
    api.call(
        "auth.login",
        auth=basic(credential.access_key, secret),
        headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"},
    )
    credential.refresh_from_db()
    assert credential.last_used_from == "198.51.100.7"
