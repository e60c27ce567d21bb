import pytest
from django.urls import reverse
from django.utils.html import escape

from workspaces.credentials import credential_create
from workspaces.invitations import invitation_create
from workspaces.models import AuditEvent, Credential, Membership
from workspaces.selectors import personal_workspace_get

PAGE = reverse("workspaces:workspace-settings")


def url(name, workspace, *args):
    return reverse(f"workspaces:{name}", args=[workspace.slug, *args])


def test_leave_confirmation_fragment(client, member, workspace, hx):
    client.force_login(member)
    response = client.get(url("workspace-leave", workspace), headers=hx)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "credentials for it will be revoked" in html
    assert Membership.objects.filter(workspace=workspace, user=member).exists()


def test_leaving_revokes_credentials_and_ends_access(client, owner, member, workspace):
    mine, _ = credential_create(workspace=workspace, actor=member, label="mine")
    made_for_me_by_owner, _ = credential_create(workspace=workspace, actor=owner, user=member)
    owners, _ = credential_create(workspace=workspace, actor=owner)
    client.force_login(member)
    client.post(url("workspace-switch", workspace))
    assert client.session["workspace_id"] == str(workspace.id)

    response = client.post(url("workspace-leave", workspace), follow=True)
    html = response.content.decode()
    assert "You left Team. Your credentials there were revoked." in html
    assert not Membership.objects.filter(workspace=workspace, user=member).exists()
    assert client.session["workspace_id"] == str(personal_workspace_get(user=member).id)
    for credential in (mine, made_for_me_by_owner):
        credential.refresh_from_db()
        assert credential.is_revoked  # kept as rows: what they did stays on record
    owners.refresh_from_db()
    assert not owners.is_revoked
    assert f'id="workspace-{workspace.slug}"' not in html
    # access ends at once, whatever the session says
    for name in ("credential-table", "member-table", "credential-create", "workspace-leave"):
        assert client.get(url(name, workspace)).status_code == 404
    event = AuditEvent.objects.for_workspace(workspace).get(action="member.leave")
    assert event.actor == member and event.after == {"credentials_revoked": 2}


def test_leaving_with_htmx_redirects_the_page(client, member, workspace, hx):
    client.force_login(member)
    response = client.post(url("workspace-leave", workspace), headers=hx)
    assert response.status_code == 200 and response["HX-Redirect"] == PAGE
    assert not Membership.objects.filter(workspace=workspace, user=member).exists()


def test_a_stale_session_falls_back_to_the_personal_workspace(client, member, workspace):
    client.force_login(member)
    client.post(url("workspace-switch", workspace))
    Membership.objects.filter(workspace=workspace, user=member).delete()  # removed elsewhere
    html = client.get(PAGE).content.decode()
    assert f'title="Current workspace">{escape(personal_workspace_get(user=member).name)}</span>' in html


@pytest.mark.parametrize("htmx", [True, False])
def test_the_owner_cannot_leave(client, owner, workspace, hx, htmx):
    credential, _ = credential_create(workspace=workspace, actor=owner)
    client.force_login(owner)
    page = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert "the owner cannot leave it while owning it" in page
    assert url("workspace-leave", workspace) not in page
    response = client.post(url("workspace-leave", workspace), headers=hx if htmx else {})
    assert response.status_code == 422
    assert "the owner cannot leave it while owning it" in response.content.decode()
    assert Membership.objects.filter(workspace=workspace, user=owner).exists()
    credential.refresh_from_db()
    assert not credential.is_revoked


def test_the_personal_workspace_cannot_be_left(client, member):
    personal = personal_workspace_get(user=member)
    client.force_login(member)
    assert url("workspace-leave", personal) not in client.get(PAGE).content.decode()
    response = client.post(url("workspace-leave", personal))
    assert response.status_code == 422
    assert "personal workspace" in response.content.decode()
    assert Membership.objects.filter(workspace=personal, user=member).exists()


def test_admins_may_leave(client, admin_member, workspace):
    client.force_login(admin_member)
    assert client.post(url("workspace-leave", workspace)).status_code == 302
    assert not Membership.objects.filter(workspace=workspace, user=admin_member).exists()


def test_outsiders_cannot_leave_what_they_are_not_in(client, outsider, workspace):
    client.force_login(outsider)
    assert client.post(url("workspace-leave", workspace)).status_code == 404


def test_rejoining_needs_a_new_invitation(client, owner, member, workspace):
    issued = invitation_create(workspace=workspace, actor=owner, email="x@example.com")
    from workspaces.models import Invitation

    Invitation.objects.filter(pk=issued.invitation.pk).update(email=member.email)
    client.force_login(member)
    client.post(url("workspace-leave", workspace))
    # the old (pending) invitation for their email still works once; a used one never again
    client.post(reverse("workspaces:invitation-accept", args=[issued.token]))
    assert Membership.objects.filter(workspace=workspace, user=member).exists()
    client.post(url("workspace-leave", workspace))
    response = client.post(reverse("workspaces:invitation-accept", args=[issued.token]))
    assert response.status_code == 410
    assert not Membership.objects.filter(workspace=workspace, user=member).exists()
    assert not Credential.objects.filter(workspace=workspace, user=member, revoked_at__isnull=True).exists()


def test_leaving_drops_group_memberships(client, owner, member, workspace):
    """A re-invited user starts without the groups (and their privileges) they had before."""
    from access.models import GroupMembership
    from access.services import group_create

    group = group_create(workspace=workspace, actor=owner, name="Research", member_ids=[member.pk])
    assert GroupMembership.objects.filter(group=group, user=member).exists()
    client.force_login(member)
    client.post(url("workspace-leave", workspace))
    assert not Membership.objects.filter(workspace=workspace, user=member).exists()
    assert not GroupMembership.objects.filter(group=group, user=member).exists()
