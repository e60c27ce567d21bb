"""The audit log: `audit_log()` rows, and the page where admins read and filter them."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory, make_workspace
from workspaces.audit import audit_log, changes
from workspaces.models import AuditEvent
from workspaces.views.audit import AUDIT_PAGE_SIZE

HX = {"HX-Request": "true"}


def audit_url(workspace):
    return reverse("workspaces:audit-log", args=[workspace.slug])


# --- audit_log() ------------------------------------------------------------------------------


def test_audit_log_records_who_what_when_before_after(owner, workspace):
    event = audit_log(
        actor=owner,
        action="workspace.rename",
        workspace=workspace,
        target=workspace,
        before={"name": "Old"},
        after={"name": "Team"},
        ip_address="192.0.2.1",
    )
    event.refresh_from_db()
    assert event.actor == owner and event.actor_label == "owner@example.com"
    assert event.target_type == "workspaces.workspace" and event.target_id == str(workspace.pk)
    assert event.target_label == "Team"
    assert event.before == {"name": "Old"} and event.after == {"name": "Team"}
    assert event.ip_address == "192.0.2.1"
    assert abs(event.created_at - timezone.now()) < dt.timedelta(seconds=30)


def test_system_actor_and_explicit_label(workspace):
    event = audit_log(actor=None, action="job.cleanup", workspace=workspace, target_label="nightly")
    assert event.actor is None and event.actor_label == "system"
    assert event.target_type == "" and event.target_label == "nightly"


@pytest.mark.parametrize(
    "key", ["secret", "secret_key", "password", "content", "data", "private_key", "client_secret"]
)
def test_secret_values_never_enter_the_log(owner, workspace, key):
    event = audit_log(
        actor=owner,
        action="x.update",
        workspace=workspace,
        before={key: "old-s3cret"},
        after={key: "new-s3cret", "label": "ok"},
    )
    event.refresh_from_db()
    assert event.before == {key: "********"}
    assert event.after == {key: "********", "label": "ok"}


def test_label_survives_the_actor(workspace):
    gone = UserFactory(email="gone@example.com")
    event = audit_log(actor=gone, action="x", workspace=workspace)
    AuditEvent.objects.filter(actor=gone).exclude(pk=event.pk).delete()
    from workspaces.models import Membership, Workspace

    Membership.objects.filter(user=gone).delete()
    Workspace.objects.filter(owner=gone).delete()
    gone.delete()
    event.refresh_from_db()
    assert event.actor is None and event.actor_label == "gone@example.com"


def test_changes_keeps_only_differences():
    assert changes({"a": 1, "b": 2}, {"a": 1, "b": 3}) == ({"b": 2}, {"b": 3})
    assert changes({"a": 1}, {"a": 1}) == ({}, {})
    assert changes({}, {"a": 1}) == ({"a": None}, {"a": 1})


def test_workspace_and_membership_services_write_rows(owner, member, workspace):
    actions = set(AuditEvent.objects.for_workspace(workspace).values_list("action", flat=True))
    assert {"workspace.create", "member.add"} <= actions
    add = AuditEvent.objects.get(workspace=workspace, action="member.add", target_label="member@example.com")
    assert add.actor == owner and add.after == {"role": "Member"}


# --- The page -----------------------------------------------------------------------------------


@pytest.fixture
def events(owner, admin_member, workspace):
    other = make_workspace(owner=UserFactory(email="else@example.com"), name="Elsewhere")
    audit_log(actor=owner, action="credential.create", workspace=workspace, target_label="laptop key")
    audit_log(actor=admin_member, action="credential.revoke", workspace=workspace, target_label="old key")
    audit_log(
        actor=admin_member,
        action="vault.update",
        workspace=workspace,
        target_label="team vault",
        before={"enabled": False},
        after={"enabled": True},
    )
    audit_log(actor=owner, action="credential.create", workspace=other, target_label="FOREIGN-ROW")
    return workspace


def test_admin_reads_the_workspace_log_only(client, admin_member, events):
    client.force_login(admin_member)
    response = client.get(audit_url(events))
    html = response.content.decode()
    assert response.status_code == 200
    assert "laptop key" in html and "old key" in html and "team vault" in html
    assert "FOREIGN-ROW" not in html
    assert "admin@example.com" in html and 'data-action="credential.revoke"' in html
    assert "Revoked a credential" in html
    # Before/after read as "field: old → new", not as JSON.
    assert "&quot;enabled&quot;" not in html
    assert (
        '<span class="audit-field">Enabled:</span>\n'
        '              <span class="audit-old">no</span> <span aria-label="changed to">→</span> '
        '<span class="audit-new">yes</span>'
    ) in html


@pytest.mark.parametrize(
    "query,shown,hidden",
    [
        ({"action": "credential"}, ["laptop key", "old key"], ["team vault"]),
        ({"action": "credential.revoke"}, ["old key"], ["laptop key"]),
        ({"actor": "ADMIN@"}, ["old key", "team vault"], ["laptop key"]),
        ({"q": "VAULT"}, ["team vault"], ["laptop key", "old key"]),
        ({"action": "credential", "actor": "owner"}, ["laptop key"], ["old key", "team vault"]),
        ({"action": "nothing"}, ["No events match these filters."], ["laptop key"]),
    ],
)
def test_filters(client, admin_member, events, query, shown, hidden):
    client.force_login(admin_member)
    html = client.get(audit_url(events), query).content.decode()
    for text in shown:
        assert text in html
    for text in hidden:
        assert text not in html


def test_filter_fragment_for_htmx(client, admin_member, events):
    client.force_login(admin_member)
    response = client.get(audit_url(events), {"action": "vault"}, headers=HX)
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="audit-table"')
    assert "team vault" in html and "laptop key" not in html
    assert "HX-Request" in response["Vary"]


def test_filter_form_works_without_javascript(client, admin_member, events):
    client.force_login(admin_member)
    html = client.get(audit_url(events)).content.decode()
    assert (
        'method="get"' in html and 'name="action"' in html and 'name="actor"' in html and 'name="q"' in html
    )
    assert 'name="since"' in html and 'name="until"' in html
    assert '<button class="btn" type="submit">Filter</button>' in html


@pytest.mark.parametrize(
    "params", [{"page": "abc"}, {"page": "-1"}, {"page": "99999"}, {"action": "x" * 5000}, {"q": "ü%00"}]
)
def test_odd_input_never_fails(client, admin_member, events, params):
    client.force_login(admin_member)
    assert client.get(audit_url(events), params).status_code == 200


def test_nul_in_a_filter_is_a_clear_400(client, admin_member, events):
    client.force_login(admin_member)
    response = client.get(audit_url(events), {"q": "a\x00b"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_pagination_keeps_the_filters(client, admin_member, workspace):
    AuditEvent.objects.bulk_create(
        AuditEvent(
            workspace=workspace, actor_label="bot@example.com", action="bulk.thing", target_label=f"row {n}"
        )
        for n in range(AUDIT_PAGE_SIZE + 5)
    )
    client.force_login(admin_member)
    html = client.get(audit_url(workspace), {"action": "bulk"}).content.decode()
    assert html.count('data-action="bulk.thing"') == AUDIT_PAGE_SIZE
    assert "Page 1 of 2" in html
    assert "action=bulk&amp;page=2" in html
    second = client.get(audit_url(workspace), {"action": "bulk", "page": 2}).content.decode()
    assert second.count('data-action="bulk.thing"') == 5


def test_newest_first(client, admin_member, workspace):
    now = timezone.now()
    AuditEvent.objects.create(
        workspace=workspace, actor_label="x", action="t.old", created_at=now - dt.timedelta(days=2)
    )
    AuditEvent.objects.create(
        workspace=workspace, actor_label="x", action="t.new", created_at=now + dt.timedelta(minutes=1)
    )
    client.force_login(admin_member)
    html = client.get(audit_url(workspace), {"action": "t."}).content.decode()
    assert html.index("t.new") < html.index("t.old")


def test_query_count_does_not_grow_with_rows(client, admin_member, workspace, django_assert_max_num_queries):
    client.force_login(admin_member)
    client.get(audit_url(workspace))  # the first visit also saves the current workspace in the session
    with CaptureQueriesContext(connection) as few:
        assert client.get(audit_url(workspace)).status_code == 200
    AuditEvent.objects.bulk_create(
        AuditEvent(
            workspace=workspace,
            actor_label="bot",
            action="bulk.thing",
            target_label=f"row {n}",
            after={"n": n},
        )
        for n in range(120)
    )
    with django_assert_max_num_queries(12):
        client.get(audit_url(workspace))
    with CaptureQueriesContext(connection) as many:
        client.get(audit_url(workspace))
    assert len(many) == len(few)


def test_member_and_outsider_cannot_read_it(client, member, outsider, events):
    client.force_login(member)
    assert client.get(audit_url(events)).status_code == 403
    client.force_login(outsider)
    assert client.get(audit_url(events)).status_code == 404


def test_every_user_change_in_this_issue_is_audited(client, db):
    """Administrative changes made through the pages land in the user's personal workspace log."""
    user = UserFactory(email="ada@example.com", username="ada")
    client.force_login(user)
    client.post(reverse("accounts:profile-username"), {"username": "ada2"})
    client.post(reverse("accounts:preference-toggle", args=["hide_examples"]), {"value": "on"})
    client.post(reverse("accounts:hidden-args"), {"names": "X_TOKEN"})
    client.post(
        reverse("accounts:cloud-access-new"),
        {"bucket": "b", "key": "k", "secret": "s3", "region": "", "endpoint": ""},
    )
    from accounts.models import CloudAccess

    entry = CloudAccess.objects.get(user=user)
    client.post(
        reverse("accounts:cloud-access-edit", args=[entry.pk]),
        {"bucket": "b2", "key": "k", "secret": "", "region": "", "endpoint": ""},
    )
    client.post(reverse("accounts:cloud-access-delete", args=[entry.pk]))
    actions = list(AuditEvent.objects.filter(actor=user).order_by("id").values_list("action", flat=True))
    assert actions[-6:] == [
        "user.rename",
        "preferences.update",
        "preferences.hidden_args",
        "cloud_access.create",
        "cloud_access.update",
        "cloud_access.delete",
    ]
    personal = user.owned_workspaces.get(is_personal=True)
    html = client.get(audit_url(personal)).content.decode()
    for action in actions:
        assert f'data-action="{action}"' in html
    assert "s3" not in [
        e.after.get("secret") for e in AuditEvent.objects.filter(action__startswith="cloud") if e.after
    ]


def test_member_of_team_sees_nothing_of_anothers_personal_log(client, member, owner, workspace):
    client.force_login(member)
    personal = owner.owned_workspaces.get(is_personal=True)
    assert client.get(audit_url(personal)).status_code == 404
