"""Who is invited is the admins' business: plain members see no pending invitation (the email
of someone who has not joined), on any page; the admins see them all."""

import pytest
from django.urls import reverse

from workspaces.invitations import invitation_create

pytestmark = pytest.mark.django_db

PENDING = "pending.person@example.com"
PAGE = reverse("workspaces:workspace-settings")


@pytest.fixture
def pending(workspace, owner):
    return invitation_create(workspace=workspace, actor=owner, email=PENDING).invitation


def _views(workspace):
    return [
        (PAGE + f"?open={workspace.slug}", {}),
        (reverse("workspaces:member-table", args=[workspace.slug]), {"HX-Request": "true"}),
        (reverse("workspaces:notification-list"), {}),
    ]


def test_a_plain_member_sees_no_pending_invitation(client, member, workspace, pending):
    client.force_login(member)
    for path, headers in _views(workspace):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert PENDING not in html, path
        assert 'data-testid="invitation-row"' not in html, path
    # The members themselves are still listed.
    html = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert member.email in html and 'data-testid="member-row"' in html


@pytest.mark.parametrize("who", ["owner", "admin_member"])
def test_admins_see_pending_invitations(client, request, workspace, pending, who):
    client.force_login(request.getfixturevalue(who))
    for path, headers in _views(workspace)[:2]:
        html = client.get(path, headers=headers).content.decode()
        assert PENDING in html and 'data-testid="invitation-row"' in html, path


def test_a_member_who_administers_another_workspace_sees_only_its_invitations(
    client, member, workspace, pending
):
    from tests.factories import make_workspace

    own = make_workspace(owner=member, name="Mine")
    invitation_create(workspace=own, actor=member, email="mine@example.com")
    client.force_login(member)
    html = client.get(PAGE).content.decode()
    assert "mine@example.com" in html
    assert PENDING not in html
