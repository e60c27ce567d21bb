"""Form input that answered 500 (issue 9 §4): now field errors (422 for htmx) that change nothing."""

import threading
from collections import Counter

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from access.models import AccessRule, ServiceAccount
from accounts.models import User
from workspaces.models import AuditEvent

HX = {"HX-Request": "true"}


def rule_url(workspace):
    return reverse("access:rule-create", args=[workspace.slug])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field,value",
    [
        ("object", "²"),
        ("object", "١٢"),
        ("object", "9" * 40),
        ("targets", "g:²"),
        ("targets", "g:" + "9" * 40),
        ("add", "g:²"),
        ("add", "²"),
        ("remove", "g:²"),
    ],
)
@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_rule_form_with_non_ascii_digits(client, workspace, owner, field, value, headers):
    client.force_login(owner)
    data = {"resource_type": "queue", "object": "", "permission": "read", field: value}
    audit = AuditEvent.objects.count()
    response = client.post(rule_url(workspace), data, headers=headers)
    assert response.status_code in (200, 422), response.status_code
    if field == "object":
        assert response.status_code == 422
        assert "from the list" in response.content.decode()  # the object field's error, nothing stored
    assert not AccessRule.objects.filter(workspace=workspace).exists()
    assert AuditEvent.objects.count() == audit


@pytest.mark.django_db(transaction=True)
def test_concurrent_service_account_creates_with_one_name(workspace, owner):
    """Ten admins' browsers create "ci-bot" at the same moment: one account, nine field errors."""
    url = reverse("access:service-account-create", args=[workspace.slug])
    barrier = threading.Barrier(10)
    results: list[tuple[int, str]] = []

    def create():
        try:
            client = Client(raise_request_exception=False)
            client.force_login(owner)
            barrier.wait(timeout=30)
            response = client.post(url, {"name": "ci-bot"}, headers=HX)
            results.append((response.status_code, response.content.decode()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 422: 9}, statuses
    assert all("already exists" in body for status, body in results if status == 422)
    assert ServiceAccount.objects.filter(workspace=workspace).count() == 1
    assert User.objects.filter(is_service_account=True).count() == 1
