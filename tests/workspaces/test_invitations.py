"""Invitation services: hashed, single-use, expiring tokens; email after commit; notifications."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from settings_portal.crypto import keyed_hash
from tests.factories import UserFactory
from workspaces import invitations
from workspaces.invitations import (
    invitation_accept,
    invitation_create,
    invitation_from_token,
    invitation_revoke,
    invitation_signup,
)
from workspaces.models import AuditEvent, Invitation, Membership, Notification, Role


def test_create_stores_only_a_hash_and_mails_the_link(owner, workspace, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        issued = invitation_create(workspace=workspace, actor=owner, email="  New.Person@Example.COM ")
    invitation = Invitation.objects.get()
    assert invitation.email == "new.person@example.com"
    assert invitation.token_hash == keyed_hash(issued.token) != issued.token
    assert issued.token not in str(Invitation.objects.values().get())
    assert len(issued.token) >= 40
    assert issued.url.endswith(f"/invite/{issued.token}/")
    assert invitation.expires_at - timezone.now() > timedelta(days=6, hours=23)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.com"]
    assert issued.url in message.body and "Team" in message.subject
    event = AuditEvent.objects.get(action="invitation.create")
    assert event.target_label == "new.person@example.com"
    assert issued.token not in str(event.after)


def test_email_waits_for_the_commit(owner, workspace, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invitation_create(workspace=workspace, actor=owner, email="a@example.com")
    assert mail.outbox == [] and len(callbacks) == 1


def test_expiry_follows_the_setting(owner, workspace, settings):
    settings.PORTAL_INVITATION_DAYS = 2
    issued = invitation_create(workspace=workspace, actor=owner, email="a@example.com")
    remaining = issued.invitation.expires_at - timezone.now()
    assert timedelta(days=1, hours=23) < remaining <= timedelta(days=2)


def test_the_invitee_and_the_other_admins_are_notified_not_plain_members(
    owner, member, admin_member, workspace
):
    """Seed: "existing members receive an in-app notification that they can join": the invitee
    who already has an account. Plain members of the inviting workspace learn nothing of it."""
    invitee = UserFactory(email="known@example.com")
    invitation_create(workspace=workspace, actor=owner, email="Known@example.com")
    messages = dict(Notification.objects.values_list("user__email", "message"))
    assert messages == {
        invitee.email: "owner invited you to join Team.",
        admin_member.email: "owner invited known@example.com to Team.",
    }
    assert not Notification.objects.filter(user=member).exists()


def test_an_invitee_with_an_account_is_notified_with_a_tokenless_link(owner, workspace):
    invitee = UserFactory(email="known@example.com")
    issued = invitation_create(workspace=workspace, actor=owner, email="known@example.com")
    notification = Notification.objects.get(user=invitee)
    assert notification.message == "owner invited you to join Team."
    assert notification.url == f"/invitations/{issued.invitation.pk}/"
    assert issued.token not in notification.url


def test_reinviting_refreshes_the_pending_invitation(owner, admin_member, workspace, settings):
    first = invitation_create(workspace=workspace, actor=owner, email="a@example.com")
    Invitation.objects.filter(pk=first.invitation.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    second = invitation_create(workspace=workspace, actor=admin_member, email="A@example.com")
    assert second.refreshed and not first.refreshed
    assert Invitation.objects.count() == 1
    assert invitation_from_token(first.token) is None  # the old link stops working
    invitation = invitation_from_token(second.token)
    assert invitation.invited_by == admin_member
    assert invitation.expires_at > timezone.now() + timedelta(days=6)
    assert AuditEvent.objects.filter(action="invitation.resend").count() == 1
    # The other admin heard of it once, not again on the refresh.
    assert Notification.objects.filter(message__contains="invited a@example.com").count() == 1


def test_inviting_a_member_is_an_error(owner, member, workspace):
    with pytest.raises(ValidationError) as exc:
        invitation_create(workspace=workspace, actor=owner, email="MEMBER@example.com")
    assert exc.value.message_dict == {"email": ["member@example.com is already a member of Team."]}
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "email", ["", "   ", "not-an-email", "a@b", "x" * 250 + "@example.com", "a@ex ample.com"]
)
def test_bad_emails(owner, workspace, email):
    with pytest.raises(ValidationError) as exc:
        invitation_create(workspace=workspace, actor=owner, email=email)
    assert "email" in exc.value.message_dict
    assert not Invitation.objects.exists()


def test_only_admins_invite(member, outsider, workspace):
    for actor in (member, outsider):
        with pytest.raises(PermissionDenied):
            invitation_create(workspace=workspace, actor=actor, email="a@example.com")
    assert not Invitation.objects.exists()


def test_an_admin_cannot_invite_above_member_unless_allowed(admin_member, workspace):
    issued = invitation_create(
        workspace=workspace, actor=admin_member, email="a@example.com", role=Role.ADMIN
    )
    assert issued.invitation.role == Role.ADMIN
    with pytest.raises(ValidationError):
        invitation_create(workspace=workspace, actor=admin_member, email="b@example.com", role=Role.OWNER)


def test_member_limit_counts_pending_invitations(owner, workspace):
    workspace.max_members = 4  # owner, member, admin: room for one more
    workspace.save()
    invitation_create(workspace=workspace, actor=owner, email="a@example.com")
    invitation_create(workspace=workspace, actor=owner, email="a@example.com")  # a resend still fits
    with pytest.raises(ValidationError, match="room for 4 members"):
        invitation_create(workspace=workspace, actor=owner, email="b@example.com")


def test_accept_joins_once(owner, member, workspace):
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    newcomer = UserFactory(email="new@example.com")
    Notification.objects.all().delete()
    membership = invitation_accept(invitation=issued.invitation, user=newcomer)
    assert membership.role == Role.MEMBER and membership.workspace == workspace
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == newcomer and invitation.accepted_at is not None
    assert {"member.add", "invitation.accept"} <= set(
        AuditEvent.objects.for_workspace(workspace).values_list("action", flat=True)
    )
    assert Notification.objects.filter(user=owner, message=f"{newcomer.username} joined Team.").exists()
    assert not Notification.objects.filter(user=newcomer).exists()
    with pytest.raises(ValidationError, match="already used"):
        invitation_accept(invitation=issued.invitation, user=newcomer)


def test_accept_by_another_account_is_refused(owner, outsider, workspace):
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    with pytest.raises(PermissionDenied, match=r"for new@example\.com"):
        invitation_accept(invitation=issued.invitation, user=outsider)
    assert not Membership.objects.filter(workspace=workspace, user=outsider).exists()
    assert Invitation.objects.get().accepted_at is None


def test_expired_and_revoked_invitations_cannot_be_accepted(owner, workspace):
    newcomer = UserFactory(email="new@example.com")
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert invitations.invitation_state(invitation_from_token(issued.token)) == "expired"
    with pytest.raises(ValidationError, match="expired"):
        invitation_accept(invitation=issued.invitation, user=newcomer)
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    invitation_revoke(invitation=issued.invitation, actor=owner)
    with pytest.raises(ValidationError, match="cancelled"):
        invitation_accept(invitation=issued.invitation, user=newcomer)
    assert AuditEvent.objects.filter(action="invitation.revoke").exists()
    assert not Membership.objects.filter(workspace=workspace, user=newcomer).exists()


def test_signup_creates_the_account_with_the_invited_email(owner, workspace):
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    user = invitation_signup(
        invitation=issued.invitation, username="newbie", password="a long pass phrase 42"
    )
    assert user.email == "new@example.com" and user.check_password("a long pass phrase 42")
    assert Membership.objects.filter(workspace=workspace, user=user).exists()


def test_signup_on_a_used_invitation_creates_nobody(owner, workspace):
    issued = invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    invitation_revoke(invitation=issued.invitation, actor=owner)
    with pytest.raises(ValidationError):
        invitation_signup(invitation=issued.invitation, username="newbie", password="a long pass phrase 42")
    from accounts.models import User

    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize("token", ["", "nope", "x" * 5000])
def test_unknown_tokens(db, token):
    assert invitation_from_token(token) is None


def test_a_mail_failure_is_logged_not_raised(owner, workspace, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("smtp down")

    monkeypatch.setattr(invitations, "send_mail", broken)
    sent = invitations.send_invitation_email(
        email="a@example.com",
        workspace_name="Team",
        inviter="owner",
        url="http://x/",
        expires_at=timezone.now(),
    )
    assert sent is False
    assert "could not send the invitation email" in caplog.text
