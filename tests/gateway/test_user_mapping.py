"""People who used the ClearML server before the portal fronted it keep their work:
`portal_upstream users` lists the server's users, `portal_upstream map` maps a member to one."""

import json

import pytest
from django.core.management.base import CommandError

from gateway.models import UpstreamUser
from workspaces.models import AuditEvent

from .test_linking import run

pytestmark = pytest.mark.django_db


def map_user(workspace, email, upstream_id, *, replace=False) -> str:
    args = ["--workspace", workspace.slug, "--email", email, "--upstream-user", upstream_id]
    return run("portal_upstream", "map", *args, *(["--replace"] if replace else []))


@pytest.fixture
def old_user(standin):
    """Someone with work on the server from before the portal."""
    return standin.create_user("Mem Ber Old", email="member@example.com")


def test_a_mapped_member_works_as_their_existing_upstream_user(
    api, linked, workspace, member, member_token, standin, old_user
):
    out = map_user(workspace, "MEMBER@example.com", old_user)
    assert out.strip() == f"Mapped member@example.com to the ClearML user {old_user} in {workspace.slug}"
    status, body = api.call("projects.create", {"name": "mine", "description": ""}, token=member_token)
    assert status == 200, body
    project = standin.state.projects[body["data"]["id"]]
    assert project["user"] == old_user  # no new upstream user was created for the member
    assert UpstreamUser.objects.get(user=member).upstream_id == old_user
    event = AuditEvent.objects.get(action="upstream.user_map")
    assert event.after == {"upstream_user": old_user}

    listed = json.loads(run("portal_upstream", "users", "--workspace", workspace.slug, "--json"))
    assert {"id": old_user, "name": "Mem Ber Old", "mapped_to": "member@example.com"} in listed


def test_mapping_refuses_what_does_not_fit_and_changes_nothing(
    api, linked, workspace, member, member_token, outsider, standin, old_user
):
    other = standin.create_user("Someone Else")
    cases = [
        (["--email", "nobody@example.com", "--upstream-user", old_user], "No user with the email"),
        (["--email", outsider.email, "--upstream-user", old_user], "is not a member of"),
        (["--email", member.email, "--upstream-user", "f" * 32], "has no user"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message):
            run("portal_upstream", "map", "--workspace", workspace.slug, *args)
    assert not UpstreamUser.objects.filter(upstream_id=old_user).exists()

    api.call("projects.get_all", {}, token=member_token)  # the member's first call provisions a new user
    provisioned = UpstreamUser.objects.get(user=member).upstream_id
    with pytest.raises(CommandError, match="pass --replace"):
        map_user(workspace, member.email, old_user)
    assert UpstreamUser.objects.get(user=member).upstream_id == provisioned
    map_user(workspace, member.email, old_user, replace=True)
    assert UpstreamUser.objects.get(user=member).upstream_id == old_user
    with pytest.raises(CommandError, match=r"already mapped to member@example\.com"):
        map_user(workspace, "owner@example.com", old_user)
    assert not UpstreamUser.objects.filter(upstream_id=other).exists()


def test_mapping_a_standalone_workspace_is_a_clear_error(workspace, member):
    with pytest.raises(CommandError, match="is not linked to a ClearML server"):
        map_user(workspace, member.email, "a" * 32)
