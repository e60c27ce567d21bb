"""The one scoping decorator: non-member 404, member below the role 403, and the current workspace."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import UserFactory
from workspaces.models import Membership, Role
from workspaces.scoping import membership_get, require_role, workspace_view
from workspaces.selectors import current_membership_get


def audit_url(workspace):
    return reverse("workspaces:audit-log", args=[workspace.slug])


def test_anonymous_is_sent_to_sign_in(client, workspace):
    response = client.get(audit_url(workspace))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_outsider_gets_404(client, outsider, workspace):
    client.force_login(outsider)
    assert client.get(audit_url(workspace)).status_code == 404
    assert client.get(audit_url(workspace), headers={"HX-Request": "true"}).status_code == 404


def test_unknown_workspace_looks_the_same_as_a_foreign_one(client, outsider, workspace):
    client.force_login(outsider)
    foreign = client.get(audit_url(workspace))
    missing = client.get(reverse("workspaces:audit-log", args=["no-such-workspace"]))
    assert foreign.status_code == missing.status_code == 404
    assert workspace.name not in foreign.content.decode()


def test_member_below_the_role_gets_403(client, member, workspace):
    client.force_login(member)
    response = client.get(audit_url(workspace))
    assert response.status_code == 403


@pytest.mark.parametrize("who", ["owner", "admin_member"])
def test_admins_and_owner_get_in(client, workspace, who, request):
    client.force_login(request.getfixturevalue(who))
    response = client.get(audit_url(workspace))
    assert response.status_code == 200
    assert response.wsgi_request.workspace == workspace
    assert response.wsgi_request.membership.workspace_id == workspace.id


def test_removed_member_loses_access_at_once(client, admin_member, workspace):
    client.force_login(admin_member)
    assert client.get(audit_url(workspace)).status_code == 200
    Membership.objects.filter(user=admin_member, workspace=workspace).delete()
    assert client.get(audit_url(workspace)).status_code == 404


def test_demoted_admin_gets_403(client, admin_member, workspace):
    client.force_login(admin_member)
    Membership.objects.filter(user=admin_member, workspace=workspace).update(role=Role.MEMBER)
    assert client.get(audit_url(workspace)).status_code == 403


def test_decorator_records_the_required_role():
    @workspace_view(role=Role.OWNER)
    def view(request):
        return HttpResponse("ok")

    assert view.required_role == Role.OWNER
    assert workspace_view()(lambda request: HttpResponse()).required_role == Role.MEMBER


@pytest.mark.parametrize(
    "role,allowed",
    [
        (Role.MEMBER, {"member", "admin_member", "owner"}),
        (Role.ADMIN, {"admin_member", "owner"}),
        (Role.OWNER, {"owner"}),
    ],
)
def test_role_order(workspace, request, role, allowed):
    rf = RequestFactory()

    @workspace_view(role=role)
    def view(request):
        return HttpResponse(request.workspace.slug)

    for who in ["member", "admin_member", "owner", "outsider"]:
        req = rf.get("/")
        req.user = request.getfixturevalue(who)
        req.session = {}
        if who == "outsider":
            with pytest.raises(Http404):
                view(req, workspace_slug=workspace.slug)
        elif who in allowed:
            assert view(req, workspace_slug=workspace.slug).content == workspace.slug.encode()
            assert req.session["workspace_id"] == str(workspace.id)
        else:
            with pytest.raises(PermissionDenied):
                view(req, workspace_slug=workspace.slug)


def test_membership_get_and_require_role(workspace, member, outsider):
    assert membership_get(user=member, workspace_slug=workspace.slug).role == Role.MEMBER
    with pytest.raises(Http404):
        membership_get(user=outsider, workspace_slug=workspace.slug)
    with pytest.raises(Http404):
        membership_get(user=AnonymousUser(), workspace_slug=workspace.slug)
    with pytest.raises(PermissionDenied, match="needs the Admin role in Team"):
        require_role(membership_get(user=member, workspace_slug=workspace.slug), Role.ADMIN)


# --- The current workspace ------------------------------------------------------------------------


def _request(user, session=None):
    req = RequestFactory().get("/")
    req.user = user
    req.session = session or {}
    return req


def test_current_workspace_defaults_to_the_personal_one(member, workspace):
    membership = current_membership_get(_request(member))
    assert membership.workspace.is_personal and membership.workspace.owner == member


def test_current_workspace_follows_the_session(member, workspace):
    membership = current_membership_get(_request(member, {"workspace_id": str(workspace.id)}))
    assert membership.workspace == workspace


def test_current_workspace_ignores_a_workspace_the_user_left(member, workspace):
    Membership.objects.filter(user=member, workspace=workspace).delete()
    membership = current_membership_get(_request(member, {"workspace_id": str(workspace.id)}))
    assert membership.workspace.is_personal


def test_current_workspace_ignores_a_foreign_workspace_in_the_session(outsider, workspace):
    membership = current_membership_get(_request(outsider, {"workspace_id": str(workspace.id)}))
    assert membership.workspace != workspace


def test_anonymous_has_no_current_workspace(db):
    assert current_membership_get(_request(AnonymousUser())) is None


def test_visiting_a_workspace_makes_it_current_and_shows_admin_sections(
    client, admin_member, member, workspace
):
    client.force_login(admin_member)
    client.get(audit_url(workspace))
    html = client.get(reverse("accounts:profile")).content.decode()
    assert "Team (Admin)" in html
    assert "Administrator Settings" in html and audit_url(workspace) in html
    # A plain member of the current workspace sees no administrator sections.
    client.force_login(member)
    session = client.session
    session["workspace_id"] = str(workspace.id)
    session.save()
    html = client.get(reverse("accounts:profile")).content.decode()
    assert "Team (Member)" in html
    assert "Administrator Settings" not in html and audit_url(workspace) not in html


def test_owner_of_the_personal_workspace_sees_its_audit_log(client, db):
    user = UserFactory()
    client.force_login(user)
    html = client.get(reverse("accounts:profile")).content.decode()
    personal = current_membership_get(_request(user)).workspace
    assert audit_url(personal) in html
    assert client.get(audit_url(personal)).status_code == 200
