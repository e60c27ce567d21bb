"""The revocation cache: Redis pub/sub path, database fallback, embedded default."""

import time

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from workspaces import revocation
from workspaces.credentials import credential_revoke
from workspaces.models import Credential


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def revoke_elsewhere(credential):
    """What another process's revoke looks like from here: the row changes, then a message arrives."""
    Credential.objects.filter(pk=credential.pk).update(revoked_at=timezone.now())
    redis.Redis.from_url(django_settings.REDIS_URL).publish(revocation.channel_name(), str(credential.pk))


@pytest.fixture
def listening():
    assert django_settings.REDIS_URL, "these tests need Redis (REDIS_URL)"
    assert revocation.wait_listening(timeout=5)


def test_active_credential_is_checked_once_then_served_from_memory(
    listening, member_key, django_assert_num_queries
):
    credential, _ = member_key
    with django_assert_num_queries(1):
        assert revocation.is_revoked(credential.pk) is False
    with django_assert_num_queries(0):
        for _ in range(20):
            assert revocation.is_revoked(credential.pk) is False


def test_the_listener_stays_alive_through_pings(listening):
    time.sleep(revocation.SILENCE_LIMIT * 1.5)
    assert revocation.status()["listening"] is True


def test_redis_down_means_database_checks_and_few_warnings(
    settings, member_key, caplog, django_assert_num_queries
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    revocation.reset()
    credential, _ = member_key
    with django_assert_num_queries(3):
        for _ in range(3):
            assert revocation.is_revoked(credential.pk) is False
    time.sleep(revocation.RECONNECT_DELAY * 3)
    assert revocation.status()["listening"] is False
    assert caplog.text.count("revocation listener lost Redis") == 1


def test_a_revoke_in_another_process_arrives_through_pubsub(listening, member_key, django_assert_num_queries):
    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    revoke_elsewhere(credential)
    # No database query: the message alone flips it.
    with django_assert_num_queries(0):
        assert wait_for(lambda: revocation.is_revoked(credential.pk), timeout=2)


def test_pubsub_delivers_within_milliseconds(listening, member_key):
    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    started = time.monotonic()
    revoke_elsewhere(credential)
    assert wait_for(lambda: revocation.is_known_revoked(credential.pk), timeout=2)
    assert time.monotonic() - started < 0.5


def test_api_refuses_a_token_revoked_elsewhere(listening, api, member_key, member_token):
    credential, _ = member_key
    assert api.call("users.get_current_user", token=member_token)[0] == 200
    revoke_elsewhere(credential)
    assert wait_for(lambda: api.call("users.get_current_user", token=member_token)[0] == 401, timeout=2)


def test_local_revoke_is_immediate_even_before_the_message(
    listening, member_key, member, django_capture_on_commit_callbacks
):
    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        credential_revoke(credential=credential, actor=member)
    assert len(callbacks) == 1  # publish_revoked runs after the commit, not before
    assert revocation.is_revoked(credential.pk) is True


def test_revoke_through_the_service_blocks_cached_tokens(
    listening, api, member_key, member, member_token, django_capture_on_commit_callbacks
):
    credential, _ = member_key
    assert api.call("users.get_current_user", token=member_token)[0] == 200  # now verified and cached
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke(credential=credential, actor=member)
    status, body = api.call("users.get_current_user", token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (401, 31)


def test_revocation_is_not_published_when_the_transaction_rolls_back(
    listening, member_key, member, django_capture_on_commit_callbacks
):
    from django.db import transaction

    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        credential_revoke(credential=credential, actor=member)
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert revocation.is_revoked(credential.pk) is False


def test_silent_listener_falls_back_to_the_database(listening, member_key, django_assert_num_queries):
    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    state = revocation._current()
    state.alive_at -= revocation.SILENCE_LIMIT + 1  # as if no pong came for over a second
    state.stop.set()  # and keep it silent
    state.thread.join(timeout=2)
    Credential.objects.filter(pk=credential.pk).update(revoked_at=timezone.now())  # no message at all
    with django_assert_num_queries(1):
        assert revocation.is_revoked(credential.pk) is True


def test_killed_listener_connection_falls_back_then_resubscribes(listening, member_key):
    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    state = revocation._current()
    generation = state.generation
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    name = f"{revocation.LISTENER_NAME}-{state.pid}"
    assert (
        client.client_kill_filter(_id=next(c["id"] for c in client.client_list() if c["name"] == name)) == 1
    )
    assert wait_for(lambda: state.generation > generation and state.listening(time.monotonic()), timeout=5)
    # Verifications from before the gap are not trusted: a revoke missed meanwhile is found in the database.
    Credential.objects.filter(pk=credential.pk).update(revoked_at=timezone.now())
    assert revocation.is_revoked(credential.pk) is True


def test_verification_expires(listening, member_key, monkeypatch, django_assert_num_queries):
    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    monkeypatch.setattr(revocation, "VERIFIED_TTL", 0.0)
    with django_assert_num_queries(1):
        assert revocation.is_revoked(credential.pk) is False


def test_deactivated_user_counts_as_revoked_on_a_fresh_check(member_key, member):
    credential, _ = member_key
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert revocation.is_revoked(credential.pk) is True


def test_embedded_default_checks_the_database_each_time(settings, member_key, django_assert_num_queries):
    settings.REDIS_URL = None
    revocation.reset()
    credential, _ = member_key
    with django_assert_num_queries(2):
        assert revocation.is_revoked(credential.pk) is False
        assert revocation.is_revoked(credential.pk) is False
    Credential.objects.filter(pk=credential.pk).update(revoked_at=timezone.now())
    assert revocation.is_revoked(credential.pk) is True
    assert revocation._current().thread is None  # no listener without Redis


def test_unknown_credential_is_revoked(listening, db):
    assert revocation.is_revoked(987654321) is True


def test_channel_is_scoped_to_the_database():
    from django.db import connection

    assert revocation.channel_name().endswith(connection.settings_dict["NAME"])


def test_publish_survives_redis_being_down(settings, member_key, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    credential, _ = member_key
    revocation.publish_revoked(credential.pk)
    assert revocation.is_revoked(credential.pk) is True
    assert "could not publish" in caplog.text


def test_forked_process_starts_with_fresh_state(listening, member_key):
    credential, _ = member_key
    revocation.publish_revoked(credential.pk)
    state = revocation._current()
    state.pid = -1  # what a forked child sees: the pid differs
    fresh = revocation._current()
    assert fresh is not state
    assert fresh.revoked == set()
    assert fresh.thread is None


# --- Deactivated users stop at once ------------------------------------------------------------------


def test_deactivating_a_user_stops_their_cached_tokens_at_once(
    listening, api, member, member_token, django_capture_on_commit_callbacks
):
    """Before: a verified token kept working for up to VERIFIED_TTL (60 s) after deactivation."""
    assert api.call("users.get_current_user", token=member_token)[0] == 200  # verified and cached
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        member.is_active = False
        member.save(update_fields=["is_active"])
    assert len(callbacks) == 1  # published after the commit
    status, body = api.call("users.get_current_user", token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (401, 31)


def test_a_reactivated_user_works_again_at_once(
    listening, api, member, member_token, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        member.is_active = False
        member.save(update_fields=["is_active"])
    assert api.call("users.get_current_user", token=member_token)[0] == 401
    assert api.call("users.get_current_user", token=member_token)[0] == 401  # the refusal is cached too
    with django_capture_on_commit_callbacks(execute=True):
        member.is_active = True
        member.save()
    assert api.call("users.get_current_user", token=member_token)[0] == 200


def test_a_deactivation_in_another_process_arrives_through_pubsub(listening, api, member, member_token):
    from accounts.models import User

    assert api.call("users.get_current_user", token=member_token)[0] == 200
    User.objects.filter(pk=member.pk).update(is_active=False)
    redis.Redis.from_url(django_settings.REDIS_URL).publish(revocation.channel_name(), f"u:{member.id.hex}")
    assert wait_for(lambda: api.call("users.get_current_user", token=member_token)[0] == 401, timeout=2)


def test_other_users_saves_do_not_touch_their_tokens(
    listening, member_key, owner, django_capture_on_commit_callbacks, django_assert_num_queries
):
    credential, _ = member_key
    assert revocation.is_revoked(credential.pk) is False
    with django_capture_on_commit_callbacks(execute=True):
        owner.is_active = False
        owner.save(update_fields=["is_active"])
    with django_assert_num_queries(0):
        assert revocation.is_revoked(credential.pk) is False


def test_saving_other_fields_publishes_nothing(listening, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        member.username = "renamed"
        member.save(update_fields=["username"])
    assert callbacks == []


def test_a_refusal_read_while_a_user_message_arrived_is_not_cached(
    listening, member_key, member, monkeypatch
):
    """The race: a check reads the database (user still active), the deactivation commits and
    its message arrives before the check stores its verdict. The stale verdict must not stick."""
    credential, _ = member_key
    real = revocation._db_credential

    def read_then_deactivate(credential_id):
        answer = real(credential_id)
        member.is_active = False
        member.save(update_fields=["is_active"])
        revocation.publish_user_changed(member.pk)  # the message lands between read and store
        return answer

    monkeypatch.setattr(revocation, "_db_credential", read_then_deactivate)
    assert revocation.is_revoked(credential.pk) is False  # the stale read answers this one call
    monkeypatch.setattr(revocation, "_db_credential", real)
    assert revocation.is_revoked(credential.pk) is True  # but was not cached
