import threading
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing import metering, tasks
from billing.models import Metric, UsageCounter, UsageFlush
from tests.api.conftest import Api
from workspaces.credentials import credential_create


def _counter(workspace, day=None):
    row = UsageCounter.objects.for_workspace(workspace).filter(day=day or timezone.now().date()).first()
    return row.value if row else 0


def test_record_is_one_hincrby_into_the_pending_hash(redis_required, workspace):
    metering.record(str(workspace.pk))
    metering.record(str(workspace.pk))
    field = f"{workspace.pk}|api_calls|{timezone.now().date().isoformat()}"
    assert int(redis_required.hget(metering.pending_key(), field)) == 2
    assert _counter(workspace) == 0  # nothing in the database before the flush


def test_flush_adds_to_existing_counters_and_empties_redis(redis_required, workspace):
    today = timezone.now().date()
    UsageCounter.objects.create(workspace=workspace, metric=Metric.API_CALLS, day=today, value=5)
    for _ in range(3):
        metering.record(str(workspace.pk))
    assert tasks.flush_usage() == 1
    assert _counter(workspace) == 8
    assert not redis_required.exists(metering.pending_key())
    assert list(redis_required.scan_iter(match=metering.batch_pattern())) == []
    assert tasks.flush_usage() == 0
    assert _counter(workspace) == 8


def test_a_batch_left_by_a_crash_after_the_rename_is_replayed(redis_required, workspace):
    day = date(2026, 11, 3)
    batch = f"{metering.KEY_PREFIX}:batch:crashed"
    redis_required.hset(batch, f"{workspace.pk}|api_calls|{day.isoformat()}", 7)
    metering.record(str(workspace.pk))
    metering.flush_pending()
    assert _counter(workspace, day) == 7
    assert _counter(workspace) == 1
    assert not redis_required.exists(batch)
    assert UsageFlush.objects.filter(key=batch).exists()


def test_a_batch_committed_before_a_crash_is_not_counted_twice(redis_required, workspace):
    day = date(2026, 11, 4)
    batch = f"{metering.KEY_PREFIX}:batch:committed"
    UsageCounter.objects.create(workspace=workspace, metric=Metric.API_CALLS, day=day, value=7)
    UsageFlush.objects.create(key=batch)  # the totals were committed; the delete never ran
    redis_required.hset(batch, f"{workspace.pk}|api_calls|{day.isoformat()}", 7)
    metering.flush_pending()
    assert _counter(workspace, day) == 7
    assert not redis_required.exists(batch)


def test_unknown_workspaces_and_malformed_fields_are_dropped(redis_required, workspace):
    today = timezone.now().date().isoformat()
    key = metering.pending_key()
    redis_required.hset(key, f"00000000-0000-0000-0000-000000000000|api_calls|{today}", 4)
    redis_required.hset(key, "garbage", 1)
    redis_required.hset(key, f"{workspace.pk}|api_calls|{today}", 2)
    metering.flush_pending()
    assert UsageCounter.objects.dangerously_all().count() == 1
    assert _counter(workspace) == 2


def test_without_redis_calls_are_counted_in_the_database(settings, workspace):
    settings.REDIS_URL = None
    metering.record(str(workspace.pk))
    metering.record(str(workspace.pk))
    assert _counter(workspace) == 2
    assert metering.flush_pending() == 0


def test_without_redis_api_calls_are_counted_in_the_database(settings, client, workspace, member):
    settings.REDIS_URL = None
    api = Api(client)
    credential, secret = credential_create(workspace=workspace, actor=member, label="laptop")
    token = api.login(credential.access_key, secret)
    for _ in range(4):
        assert api.call("users.get_current_user", token=token)[0] == 200
    assert _counter(workspace) == 4


def test_a_redis_failure_never_breaks_the_api_call(monkeypatch, caplog, client, workspace, member):
    api = Api(client)
    credential, secret = credential_create(workspace=workspace, actor=member, label="laptop")
    token = api.login(credential.access_key, secret)

    def broken():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(metering, "redis_client", broken)
    status, body = api.call("users.get_current_user", token=token)
    assert status == 200, body
    assert "usage metering failed" in caplog.text


def test_every_authenticated_api_call_is_metered_login_is_not(redis_required, client, workspace, member):
    api = Api(client)
    credential, secret = credential_create(workspace=workspace, actor=member, label="laptop")
    token = api.login(credential.access_key, secret)
    for _ in range(3):
        status, _ = api.call("users.get_current_user", token=token)
        assert status == 200
    api.call("users.get_current_user", token="not-a-token")  # refused: not counted
    metering.flush_pending()
    assert _counter(workspace) == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_api_calls_are_counted_exactly(redis_required, workspace, member):
    credential, secret = credential_create(workspace=workspace, actor=member, label="load")
    token = Api(Client()).login(credential.access_key, secret)
    threads, per_thread = 8, 25
    failures = []

    def worker():
        api = Api(Client())
        try:
            for _ in range(per_thread):
                status, body = api.call("users.get_current_user", token=token)
                if status != 200:
                    failures.append(body)
        finally:
            connection.close()

    def flusher(stop):
        try:
            while not stop.is_set():
                metering.flush_pending()
        finally:
            connection.close()

    stop = threading.Event()
    background = threading.Thread(target=flusher, args=(stop,))
    background.start()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    stop.set()
    background.join()
    metering.flush_pending()
    assert failures == []
    assert _counter(workspace) == threads * per_thread


def test_old_days_are_kept_per_day(redis_required, workspace):
    yesterday = timezone.now().date() - timedelta(days=1)
    redis_required.hset(metering.pending_key(), f"{workspace.pk}|api_calls|{yesterday.isoformat()}", 9)
    metering.record(str(workspace.pk))
    metering.flush_pending()
    assert _counter(workspace, yesterday) == 9
    assert _counter(workspace) == 1


def test_the_page_counts_calls_not_flushed_yet(redis_required, admin_client, workspace):
    from django.urls import reverse

    UsageCounter.objects.create(
        workspace=workspace, metric=Metric.API_CALLS, day=timezone.now().date(), value=10
    )
    for _ in range(3):
        metering.record(str(workspace.pk))
    html = admin_client.get(reverse("billing:overview", args=[workspace.slug])).content.decode()
    assert "<strong>13</strong>" in html
    metering.flush_pending()
    html = admin_client.get(reverse("billing:overview", args=[workspace.slug])).content.decode()
    assert "<strong>13</strong>" in html  # flushed: counted once


def test_old_flush_records_are_pruned(workspace):
    old = UsageFlush.objects.create(key="old")
    UsageFlush.objects.filter(pk=old.pk).update(flushed_at=timezone.now() - timedelta(days=8))
    UsageFlush.objects.create(key="recent")
    tasks.flush_usage()
    assert list(UsageFlush.objects.values_list("key", flat=True)) == ["recent"]
