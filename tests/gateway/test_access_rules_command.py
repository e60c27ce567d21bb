"""`manage.py portal_access add-rule|list|delete|explain` (issue 12's operations contract), against
a workspace linked to the upstream stand-in: objects named by name are resolved on the server."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from access import services as access_services
from access import upstream
from access.models import AccessRule
from tests.upstream.client import ApiClient

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def objects(linked, standin):
    upstream.reset()
    system = ApiClient(standin.url, token=standin.system_token())
    ids = {
        "vision": system.ok("projects.create", name="Vision")["id"],
        "twin_a": system.ok("projects.create", name="Twin/exp")["id"],
        "twin_b": system.ok("projects.create", name="Other/exp")["id"],
    }
    ids["task"] = system.ok("tasks.create", name="train", type="training", project=ids["vision"])["id"]
    ids["queue"] = system.ok("queues.create", name="gpu")["id"]
    system.close()
    yield ids
    upstream.reset()


def test_add_list_explain_delete(workspace, owner, member, objects):
    access_services.group_create(workspace=workspace, actor=owner, name="Vision team", member_ids=[member.pk])
    out = run(
        "portal_access",
        "add-rule",
        "--workspace",
        workspace.slug,
        "--type",
        "project",
        "--object",
        "Vision",
        "--permission",
        "read",
        "--group",
        "Vision team",
        "--json",
    )
    added = json.loads(out)
    assert added["object"] == {"id": objects["vision"], "name": "Vision"}
    assert (added["type"], added["permission"], added["groups"]) == ("project", "read", ["Vision team"])
    run(
        "portal_access",
        "add-rule",
        "--workspace",
        workspace.slug,
        "--type",
        "queue",
        "--permission",
        "modify",
        "--user",
        owner.email,
    )
    listed = json.loads(run("portal_access", "list", "--workspace", workspace.slug, "--json"))
    assert [(r["type"], r["object"]) for r in listed] == [
        ("project", {"id": objects["vision"], "name": "Vision"}),
        ("queue", None),
    ]
    assert (
        len(
            json.loads(
                run("portal_access", "list", "--workspace", workspace.slug, "--type", "queue", "--json")
            )
        )
        == 1
    )
    why = json.loads(
        run(
            "portal_access",
            "explain",
            "--workspace",
            workspace.slug,
            "--user",
            member.email,
            "--type",
            "task",
            "--object",
            "train",
            "--json",
        )
    )
    assert why["level"] == "read"
    [reason] = why["reasons"]
    assert reason["via_groups"] == ["Vision team"] and reason["inherited"]
    assert reason["through"] == {"type": "project", "id": objects["vision"]}
    text = run(
        "portal_access",
        "explain",
        "--workspace",
        workspace.slug,
        "--user",
        member.email,
        "--type",
        "queue",
        "--object",
        objects["queue"],
    )
    assert "No access" in text and "not among its targets" in text
    run("portal_access", "delete", "--workspace", workspace.slug, "--id", str(added["id"]))
    assert AccessRule.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [("Nowhere", "No project named"), ("exp", "names 2 projects")],
)
def test_unknown_or_ambiguous_names_change_nothing(workspace, member, objects, name, message):
    with pytest.raises(CommandError, match=message):
        run(
            "portal_access",
            "add-rule",
            "--workspace",
            workspace.slug,
            "--type",
            "project",
            "--object",
            name,
            "--permission",
            "read",
            "--user",
            member.email,
        )
    assert not AccessRule.objects.exists()


def test_a_workspace_without_a_server_has_no_projects(workspace, member):
    with pytest.raises(CommandError, match="not linked"):
        run(
            "portal_access",
            "add-rule",
            "--workspace",
            workspace.slug,
            "--type",
            "project",
            "--permission",
            "read",
            "--user",
            member.email,
        )
