"""`portal_groups`, `portal_service_accounts` and `portal_users invite` (the operator contract)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from access.models import GroupMembership, ServiceAccount, UserGroup
from workspaces.credentials import secret_matches
from workspaces.models import AuditEvent, Credential, Invitation, Membership, Role


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_portal_groups_create_add_member_and_list(workspace, member):
    out = run(
        "portal_groups", "create", "--workspace", workspace.slug, "--name", "Vision", "--description", "CV"
    )
    assert "Created group Vision" in out
    group = UserGroup.objects.for_workspace(workspace).get(name="Vision")
    assert group.description == "CV"
    out = run(
        "portal_groups",
        "add-member",
        "--workspace",
        workspace.slug,
        "--name",
        "Vision",
        "--user",
        member.email,
    )
    assert "Added member@example.com" in out
    assert GroupMembership.objects.filter(group=group, user=member).exists()
    out = run(
        "portal_groups",
        "add-member",
        "--workspace",
        workspace.slug,
        "--name",
        "vision",
        "--user",
        member.email,
    )
    assert "already" in out
    listing = json.loads(run("portal_groups", "list", "--workspace", workspace.slug, "--json"))
    by_name = {g["name"]: g for g in listing}
    assert list(by_name) == ["Users", "Admins", "Queue admins", "Vision"]
    assert by_name["Vision"]["id"] == group.pk and by_name["Vision"]["builtin"] is None
    assert [m["email"] for m in by_name["Vision"]["members"]] == [member.email]
    assert {m["email"] for m in by_name["Admins"]["members"]} == {"owner@example.com", "admin@example.com"}
    assert len(by_name["Users"]["members"]) == 3
    assert "Vision" in run("portal_groups", "list", "--workspace", workspace.slug)
    assert AuditEvent.objects.filter(action="group.create", actor__isnull=True, actor_label="system").exists()


def test_portal_groups_admins_mirror_the_role_and_errors_are_clear(workspace, member, outsider):
    run(
        "portal_groups",
        "add-member",
        "--workspace",
        workspace.slug,
        "--name",
        "Admins",
        "--user",
        member.email,
    )
    assert Membership.objects.get(workspace=workspace, user=member).role == Role.ADMIN
    run(
        "portal_groups",
        "remove-member",
        "--workspace",
        workspace.slug,
        "--name",
        "Admins",
        "--user",
        member.email,
    )
    assert Membership.objects.get(workspace=workspace, user=member).role == Role.MEMBER
    with pytest.raises(CommandError, match="No workspace"):
        run("portal_groups", "list", "--workspace", "nope")
    with pytest.raises(CommandError, match="No group"):
        run(
            "portal_groups",
            "add-member",
            "--workspace",
            workspace.slug,
            "--name",
            "Nope",
            "--user",
            member.email,
        )
    with pytest.raises(CommandError, match="not a member"):
        run(
            "portal_groups",
            "add-member",
            "--workspace",
            workspace.slug,
            "--name",
            "Queue admins",
            "--user",
            outsider.email,
        )
    with pytest.raises(CommandError, match="already exists"):
        run("portal_groups", "create", "--workspace", workspace.slug, "--name", "admins")
    with pytest.raises(CommandError, match="cannot be modified"):
        run(
            "portal_groups",
            "add-member",
            "--workspace",
            workspace.slug,
            "--name",
            "Users",
            "--user",
            member.email,
        )
    with pytest.raises(CommandError, match="built-in"):
        run("portal_groups", "delete", "--workspace", workspace.slug, "--name", "Queue admins")


def test_portal_groups_delete(workspace):
    run("portal_groups", "create", "--workspace", workspace.slug, "--name", "Temp")
    assert "Deleted" in run("portal_groups", "delete", "--workspace", workspace.slug, "--name", "Temp")
    assert not UserGroup.objects.filter(name="Temp").exists()


def test_portal_service_accounts_create_json_list_and_delete(workspace):
    data = json.loads(
        run(
            "portal_service_accounts",
            "create",
            "--workspace",
            workspace.slug,
            "--name",
            "agents",
            "--impersonation",
            "--json",
        )
    )
    account = ServiceAccount.objects.for_workspace(workspace).get(name="agents")
    assert data["id"] == account.user_id.hex and data["allow_impersonation"] is True
    credential = Credential.objects.get(access_key=data["access_key"])
    assert credential.user == account.user and secret_matches(credential, data["secret_key"])
    assert f'"secret_key" = "{data["secret_key"]}"' in data["configuration"]
    listing = json.loads(run("portal_service_accounts", "list", "--workspace", workspace.slug, "--json"))
    assert [(a["name"], a["credentials"], a["allow_impersonation"]) for a in listing] == [("agents", 1, True)]
    assert "agents" in run("portal_service_accounts", "list", "--workspace", workspace.slug)
    out = run("portal_service_accounts", "delete", "--workspace", workspace.slug, "--name", "agents")
    assert "1 credential(s) revoked" in out
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert not ServiceAccount.objects.filter(pk=account.pk).exists()
    assert AuditEvent.objects.filter(action="service_account.delete", actor_label="system").exists()


def test_portal_service_accounts_plain_text_and_errors(workspace):
    out = run("portal_service_accounts", "create", "--workspace", workspace.slug, "--name", "ci")
    assert "api {" in out and '"secret_key" = "' in out
    assert ServiceAccount.objects.get(name="ci").allow_impersonation is False
    with pytest.raises(CommandError, match="already exists"):
        run("portal_service_accounts", "create", "--workspace", workspace.slug, "--name", "CI")
    with pytest.raises(CommandError, match="No service account"):
        run("portal_service_accounts", "delete", "--workspace", workspace.slug, "--name", "nope")
    with pytest.raises(CommandError, match="No workspace"):
        run("portal_service_accounts", "create", "--workspace", "nope", "--name", "x")


def test_portal_users_invite_contract(workspace):
    out = run("portal_users", "invite", "--workspace", workspace.slug, "--email", "Late@Example.com")
    assert "/invite/" in out
    invitation = Invitation.objects.for_workspace(workspace).pending().get()
    assert invitation.email == "late@example.com"
