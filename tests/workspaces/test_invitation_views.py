import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from tests.factories import UserFactory
from workspaces.invitations import invitation_create, invitation_from_token
from workspaces.models import AuditEvent, Invitation, Membership, Notification

PAGE = reverse("workspaces:workspace-settings")


def url(name, workspace, *args):
    return reverse(f"workspaces:{name}", args=[workspace.slug, *args])


def accept_url(token):
    return reverse("workspaces:invitation-accept", args=[token])


# --- Inviting ---------------------------------------------------------------------------------


def test_invite_dialog_fragment(client, admin_member, workspace, hx):
    client.force_login(admin_member)
    html = client.get(url("invitation-create", workspace), headers=hx).content.decode()
    assert (
        "<html" not in html
        and 'id="invite-form"' in html
        and 'name="emails"' in html
        and 'name="role"' in html
    )


def test_invite_shows_the_link_and_the_pending_member(
    client, owner, workspace, hx, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("invitation-create", workspace), {"emails": "new@example.com"}, headers=hx)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    link = re.search(r"http://[^<\s]+/invite/[\w-]+/", html).group(0)
    assert invitation_from_token(link.rstrip("/").rsplit("/", 1)[1]).email == "new@example.com"
    assert 'data-copy-from="#invitation-link"' in html
    assert f"members-changed-{workspace.slug}" in response["HX-Trigger"]
    # The spec: after inviting from the Workspace page, Done goes to Users & Groups.
    assert (
        f'href="{reverse("access:user-list", args=[workspace.slug])}">Done: see pending invitations' in html
    )
    assert "no-store" in response["Cache-Control"]
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body
    members = client.get(url("member-table", workspace), headers=hx).content.decode()
    assert "new@example.com" in members and "Pending" in members
    page = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert "new@example.com" in page and 'data-testid="invitation-row"' in page


def test_invite_without_javascript(client, owner, workspace):
    client.force_login(owner)
    assert "<html" in client.get(url("invitation-create", workspace)).content.decode()
    response = client.post(url("invitation-create", workspace), {"emails": "new@example.com"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html and "/invite/" in html
    assert 'id="invite-form"' not in html
    assert Invitation.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("", "This field is required."),
        ("nope", "“nope” is not a valid email address."),
        ("x" * 250 + "@example.com", "is not a valid email address."),
        ("member@example.com", "member@example.com is already a member of Team."),
    ],
)
def test_invite_bad_input(client, owner, member, workspace, hx, email, error):
    client.force_login(owner)
    response = client.post(url("invitation-create", workspace), {"emails": email}, headers=hx)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert response["HX-Retarget"] == "#modal-content"
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_invite_roles(client, member, outsider, workspace):
    client.force_login(member)
    assert client.get(url("invitation-create", workspace)).status_code == 403
    assert client.post(url("invitation-create", workspace), {"emails": "a@example.com"}).status_code == 403
    client.force_login(outsider)
    assert client.post(url("invitation-create", workspace), {"emails": "a@example.com"}).status_code == 404
    assert not Invitation.objects.exists()


def test_invite_button_only_for_admins(client, member, admin_member, workspace):
    client.force_login(member)
    assert url("invitation-create", workspace) not in client.get(PAGE).content.decode()
    client.force_login(admin_member)
    assert url("invitation-create", workspace) in client.get(PAGE).content.decode()


def test_inviting_a_pending_email_again_sends_a_fresh_link(client, owner, workspace, hx):
    first = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    client.force_login(owner)
    response = client.post(url("invitation-create", workspace), {"emails": "new@example.com"}, headers=hx)
    assert response.status_code == 200 and "sent again" in response.content.decode()
    assert invitation_from_token(first.token) is None
    assert Invitation.objects.count() == 1


def test_several_emails_at_once(client, owner, workspace, hx, django_capture_on_commit_callbacks):
    client.force_login(owner)
    emails = "ada@example.com, Grace@Example.com\nalan@example.com;ada@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("invitation-create", workspace), {"emails": emails}, headers=hx)
    html = response.content.decode()
    assert response.status_code == 200 and "3 invitations sent" in html
    assert html.count('data-testid="invitation-link"') == 3
    expected = {"ada@example.com", "grace@example.com", "alan@example.com"}
    assert set(Invitation.objects.values_list("email", flat=True)) == expected
    assert len(mail.outbox) == 3


def test_several_emails_each_checked_and_none_sent_if_one_is_refused(client, owner, member, workspace, hx):
    client.force_login(owner)
    response = client.post(
        url("invitation-create", workspace), {"emails": "ada@example.com, nope, also bad@"}, headers=hx
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "“nope” is not a valid email address." in html and "“bad@” is not a valid email address." in html
    # Well-formed, but one is refused by the service: the others are rolled back, no email leaves.
    response = client.post(
        url("invitation-create", workspace), {"emails": f"ada@example.com\n{member.email}"}, headers=hx
    )
    assert (
        response.status_code == 422
        and f"{member.email} is already a member of Team." in response.content.decode()
    )
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_too_many_emails_at_once(client, owner, workspace, hx):
    client.force_login(owner)
    emails = ",".join(f"user{n}@example.com" for n in range(51))
    response = client.post(url("invitation-create", workspace), {"emails": emails}, headers=hx)
    assert response.status_code == 422 and "Invite at most 50 addresses at once." in response.content.decode()
    assert not Invitation.objects.exists()


def test_invite_with_a_role(client, owner, admin_member, workspace, hx):
    client.force_login(admin_member)
    dialog = client.get(url("invitation-create", workspace), headers=hx).content.decode()
    assert '<option value="20"' in dialog and '<option value="30"' not in dialog  # never above one's own
    client.post(url("invitation-create", workspace), {"emails": "boss@example.com", "role": "20"}, headers=hx)
    assert Invitation.objects.get().role == 20


def test_resend_from_the_members_list(client, owner, workspace, hx):
    first = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    client.force_login(owner)
    panel = client.get(url("member-table", workspace), headers=hx).content.decode()
    assert url("invitation-resend", workspace, first.invitation.pk) in panel
    response = client.post(url("invitation-resend", workspace, first.invitation.pk), headers=hx)
    html = response.content.decode()
    assert response.status_code == 200 and "sent again" in html and "/invite/" in html
    assert f"members-changed-{workspace.slug}" in response["HX-Trigger"]
    assert "no-store" in response["Cache-Control"]
    assert invitation_from_token(first.token) is None
    assert Invitation.objects.count() == 1


def test_resend_refused_says_why(client, owner, workspace, hx):
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    from workspaces.services import membership_add

    membership_add(workspace=workspace, user=UserFactory(email="new@example.com"), role=10)
    client.force_login(owner)
    response = client.post(url("invitation-resend", workspace, issued.invitation.pk), headers=hx)
    assert response.status_code == 422 and "already a member" in response.content.decode()
    assert response["HX-Retarget"] == "#modal-content"


def test_cancel_an_invitation(client, owner, member, workspace, hx):
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    client.force_login(member)
    assert client.post(url("invitation-revoke", workspace, issued.invitation.pk)).status_code == 403
    client.force_login(owner)
    confirm = client.get(
        url("invitation-revoke", workspace, issued.invitation.pk), headers=hx
    ).content.decode()
    assert 'id="confirm-form"' in confirm and "Revoke the invitation of new@example.com?" in confirm
    response = client.post(url("invitation-revoke", workspace, issued.invitation.pk), headers=hx)
    # No content: the lists of both pages refresh on the events, the dialog closes.
    assert response.status_code == 204
    for event in ("members-changed", f"members-changed-{workspace.slug}", "closeModal"):
        assert event in response["HX-Trigger"]
    assert client.get(accept_url(issued.token)).status_code == 410
    assert client.post(url("invitation-revoke", workspace, issued.invitation.pk)).status_code == 404


def test_cancel_without_javascript_goes_back_to_the_page(client, owner, workspace):
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    client.force_login(owner)
    response = client.post(
        url("invitation-revoke", workspace, issued.invitation.pk), {"next": "//evil.example/"}
    )
    assert (
        response.status_code == 302
        and response["Location"] == PAGE + f"?open={workspace.slug}#workspace-{workspace.slug}"
    )


def test_cancel_another_workspaces_invitation_is_not_found(client, owner, workspace):
    other_owner = UserFactory()
    from tests.factories import make_workspace

    other = make_workspace(owner=other_owner, name="Other")
    issued = invitation_create(workspace=other, actor=other_owner, email="x@example.com")
    client.force_login(owner)
    assert client.post(url("invitation-revoke", workspace, issued.invitation.pk)).status_code == 404
    assert Invitation.objects.get().revoked_at is None


# --- Accepting --------------------------------------------------------------------------------


@pytest.fixture
def issued(owner, workspace):
    return invitation_create(workspace=workspace, actor=owner, email="new@example.com")


@pytest.mark.parametrize("token", ["not-a-token", "x" * 500])
def test_an_invalid_link_is_a_clear_404(client, db, token):
    response = client.get(accept_url(token))
    assert response.status_code == 404
    assert "This invitation link is not valid" in response.content.decode()


def test_an_expired_link_is_a_clear_410(client, issued):
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(accept_url(issued.token))
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert (
        client.post(
            accept_url(issued.token), {"username": "n", "password1": "p", "password2": "p"}
        ).status_code
        == 410
    )
    assert not User.objects.filter(email="new@example.com").exists()


def test_anonymous_visitor_signs_up_and_joins(client, issued, owner, workspace):
    response = client.get(accept_url(issued.token))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="new@example.com" readonly' in html and 'name="password1"' in html
    response = client.post(
        accept_url(issued.token),
        {"username": "newbie", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
    )
    assert response.status_code == 302 and response["Location"].startswith(PAGE)
    user = User.objects.get(email="new@example.com")
    assert user.username == "newbie"
    assert Membership.objects.filter(workspace=workspace, user=user).exists()
    assert client.session["workspace_id"] == str(workspace.id)
    page = client.get(response["Location"]).content.decode()
    assert "Welcome to Team." in page
    assert Notification.objects.filter(user=owner, message="newbie joined Team.").exists()
    # single use
    client.logout()
    again = client.get(accept_url(issued.token))
    assert again.status_code == 410 and "already used" in again.content.decode()


def test_the_email_cannot_be_changed_at_sign_up(client, issued):
    client.post(
        accept_url(issued.token),
        {
            "email": "attacker@example.com",
            "username": "newbie",
            "password1": "a long pass phrase 42",
            "password2": "a long pass phrase 42",
        },
    )
    assert User.objects.get(username="newbie").email == "new@example.com"
    assert not User.objects.filter(email="attacker@example.com").exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"username": "n", "password1": "a long pass phrase 42", "password2": "different"}, "do not match"),
        ({"username": "n", "password1": "short", "password2": "short"}, "too short"),
        (
            {"username": "", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
            "required",
        ),
        (
            {"username": "owner", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
            "taken",
        ),
        (
            {
                "username": "bad/name",
                "password1": "a long pass phrase 42",
                "password2": "a long pass phrase 42",
            },
            "Use letters",
        ),
    ],
)
def test_sign_up_bad_input(client, issued, data, error):
    response = client.post(accept_url(issued.token), data)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()
    assert Invitation.objects.get().accepted_at is None


def test_existing_account_is_asked_to_sign_in_and_come_back(client, issued, workspace, password):
    UserFactory(email="new@example.com", username="known")
    html = client.get(accept_url(issued.token)).content.decode()
    assert "Sign in to accept" in html and 'name="password1"' not in html
    login = reverse("accounts:login") + "?next=" + accept_url(issued.token)
    assert login in html
    response = client.post(
        reverse("accounts:login"),
        {"username": "new@example.com", "password": password, "next": accept_url(issued.token)},
    )
    assert response["Location"] == accept_url(issued.token)
    html = client.get(accept_url(issued.token)).content.decode()
    assert "Join Team" in html
    response = client.post(accept_url(issued.token))
    assert response.status_code == 302
    assert Membership.objects.filter(workspace=workspace, user__email="new@example.com").exists()


def test_signed_in_with_another_account_is_refused(client, issued, outsider, workspace):
    client.force_login(outsider)
    response = client.get(accept_url(issued.token))
    html = response.content.decode()
    assert response.status_code == 403
    assert "This invitation is for new@example.com, and you are signed in as outsider@example.com." in html
    assert client.post(accept_url(issued.token)).status_code == 403
    assert not Membership.objects.filter(workspace=workspace, user=outsider).exists()
    assert Invitation.objects.get().accepted_at is None


def test_joining_audit_logs(client, issued, workspace):
    user = UserFactory(email="new@example.com")
    client.force_login(user)
    client.post(accept_url(issued.token))
    actions = set(
        AuditEvent.objects.for_workspace(workspace).filter(actor=user).values_list("action", flat=True)
    )
    assert {"member.add", "invitation.accept"} <= actions


def test_join_from_the_notification(client, issued, workspace, outsider):
    user = UserFactory(email="NEW@example.com")
    notification_url = reverse("workspaces:invitation-join", args=[issued.invitation.pk])
    client.force_login(outsider)
    assert client.get(notification_url).status_code == 404  # not theirs
    client.force_login(user)
    assert "Join Team" in client.get(notification_url).content.decode()
    assert client.post(notification_url).status_code == 302
    assert Membership.objects.filter(workspace=workspace, user=user).exists()
    assert client.get(notification_url).status_code == 410


def test_already_a_member_is_told_so(client, issued, workspace, member):
    Invitation.objects.update(email=member.email)
    client.force_login(member)
    response = client.get(accept_url(issued.token))
    assert "already a member of Team" in response.content.decode()
    client.post(accept_url(issued.token))
    assert Invitation.objects.get().accepted_at is None
