import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from workspaces.invitations import invitation_from_token
from workspaces.models import AuditEvent, Membership, Role, Workspace


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_json(owner):
    data = json.loads(
        run("portal_workspaces", "create", "--owner", "OWNER@example.com", "--name", "Vision", "--json")
    )
    workspace = Workspace.objects.get(slug=data["slug"])
    assert data["name"] == "Vision" and data["owner"] == "owner@example.com" and data["personal"] is False
    assert data["id"] == workspace.id.hex and data["members"] == 1
    assert Membership.objects.get(workspace=workspace).role == Role.OWNER
    assert AuditEvent.objects.filter(workspace=workspace, action="workspace.create").exists()


def test_create_text_and_errors(owner):
    assert "Created workspace 'Vision'" in run(
        "portal_workspaces", "create", "--owner", owner.email, "--name", "Vision"
    )
    with pytest.raises(CommandError, match="No user"):
        run("portal_workspaces", "create", "--owner", "nobody@example.com", "--name", "X")
    with pytest.raises(CommandError, match="Enter a workspace name"):
        run("portal_workspaces", "create", "--owner", owner.email, "--name", "  ")


def test_rename(workspace):
    out = run("portal_workspaces", "rename", "--workspace", workspace.slug, "--name", "Renamed")
    assert "Renamed workspace team to 'Renamed'" in out
    workspace.refresh_from_db()
    assert workspace.name == "Renamed"
    event = AuditEvent.objects.get(action="workspace.rename")
    assert event.actor is None and event.actor_label == "system"
    with pytest.raises(CommandError, match="No workspace"):
        run("portal_workspaces", "rename", "--workspace", "nope", "--name", "X")
    with pytest.raises(CommandError, match="at most 100"):
        run("portal_workspaces", "rename", "--workspace", workspace.slug, "--name", "x" * 101)


def test_list_json(workspace):
    data = json.loads(run("portal_workspaces", "list", "--json"))
    by_slug = {row["slug"]: row for row in data}
    assert by_slug["team"]["members"] == 3 and by_slug["team"]["personal"] is False
    assert sum(row["personal"] for row in data) == 3  # the three users' personal workspaces
    text = run("portal_workspaces", "list")
    assert "team" in text and "3 members" in text


def test_portal_users_invite_json(workspace, client: Client):
    data = json.loads(
        run("portal_users", "invite", "--workspace", "team", "--email", "new@example.com", "--json")
    )
    assert data["email"] == "new@example.com" and data["workspace"] == "team" and data["refreshed"] is False
    token = data["url"].rstrip("/").rsplit("/", 1)[1]
    assert invitation_from_token(token).workspace == workspace
    assert client.get(data["url"].split("8000", 1)[1]).status_code == 200
    event = AuditEvent.objects.get(action="invitation.create")
    assert event.actor_label == "system"


def test_portal_users_invite_text_and_errors(workspace, member):
    out = run("portal_users", "invite", "--workspace", "team", "--email", "new@example.com")
    assert out.startswith("Invitation for new@example.com to Team: http")
    with pytest.raises(CommandError, match="already a member"):
        run("portal_users", "invite", "--workspace", "team", "--email", member.email)
    with pytest.raises(CommandError, match="No workspace"):
        run("portal_users", "invite", "--workspace", "nope", "--email", "a@example.com")
    with pytest.raises(CommandError, match="valid email"):
        run("portal_users", "invite", "--workspace", "team", "--email", "nope")
