"""Invitations: a link that lets one email join a workspace, once, before it expires.

The link's token is `secrets.token_urlsafe(32)`, shown to the inviter once and
mailed to the invitee; only its keyed hash is stored (Invitation.token_hash), so
the database alone cannot accept an invitation. Inviting an email again while an
invitation is pending issues a fresh token (the old link stops working) and a new
expiry.
"""

import logging
import secrets
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import user_create
from settings_portal.crypto import keyed_hash

from .audit import audit_log
from .models import Invitation, Membership, Role, Workspace
from .notifications import notify, notify_members
from .selectors import is_member, seat_count
from .services import admin_require, membership_add, role_grant_check

logger = logging.getLogger(__name__)

MAX_EMAIL_LENGTH = 254
# token_urlsafe(32) is 43 characters; anything much longer is not ours, do not even hash it.
MAX_TOKEN_LENGTH = 128


class IssuedInvitation(NamedTuple):
    invitation: Invitation
    token: str
    url: str
    refreshed: bool


def invitation_days() -> int:
    return int(getattr(settings, "PORTAL_INVITATION_DAYS", 7))


def invitation_url(token: str) -> str:
    return f"{settings.PORTAL_BASE_URL}{reverse('workspaces:invitation-accept', args=[token])}"


def display_name(user) -> str:
    if user is None:
        return "An administrator"
    return user.username or user.email


def clean_email(email: str | None) -> str:
    email = (email or "").strip()
    if not email:
        raise ValidationError({"email": "Enter an email address."})
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError({"email": f"Use at most {MAX_EMAIL_LENGTH} characters."})
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    return User.objects.normalize_email(email).lower()


def _check_room(workspace: Workspace, email: str) -> None:
    if workspace.max_members is None:
        return
    # A pending invitation of EMAIL is replaced, so it does not count.
    if seat_count(workspace=workspace, exclude_email=email) >= workspace.max_members:
        raise ValidationError(
            f"{workspace.name} has room for {workspace.max_members} members, counting pending invitations."
        )


@transaction.atomic
def invitation_create(
    *, workspace: Workspace, actor, email: str, role: Role = Role.MEMBER
) -> IssuedInvitation:
    """Invite EMAIL to WORKSPACE (or refresh its pending invitation); mail the link after commit.

    ACTOR is a workspace admin (checked by the caller) or None for an operator command.
    The invitee, if they already have an account, is notified that they can join (the seed's
    "existing members receive an in-app notification"); so are the workspace's other admins.
    Plain members are not: who is invited is the admins' business.
    """
    email = clean_email(email)
    # One invitation at a time per workspace: no duplicate pending rows, an exact member count.
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
    if role not in (Role.MEMBER, Role.ADMIN):
        raise ValidationError({"role": "Invite as a member or an admin."})
    # Only the workspace's admins invite, and not above their own role.
    role_grant_check(actor_membership=admin_require(workspace=workspace, actor=actor), role=role)
    if Membership.objects.for_workspace(workspace).filter(user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {workspace.name}."})
    _check_room(workspace, email)

    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=invitation_days())
    invitation = (
        Invitation.objects.for_workspace(workspace)
        .pending()
        .select_for_update()
        .filter(email__iexact=email)
        .first()
    )
    refreshed = invitation is not None
    if refreshed:
        invitation.token_hash = keyed_hash(token)
        invitation.expires_at = expires_at
        invitation.invited_by = actor
        invitation.role = role
        invitation.save(update_fields=["token_hash", "expires_at", "invited_by", "role"])
    else:
        invitation = Invitation.objects.create(
            workspace=workspace,
            email=email,
            role=role,
            token_hash=keyed_hash(token),
            invited_by=actor,
            expires_at=expires_at,
        )
    audit_log(
        actor=actor,
        action="invitation.resend" if refreshed else "invitation.create",
        workspace=workspace,
        target=invitation,
        target_label=email,
        after={"email": email, "role": Role(role).label, "expires_at": expires_at.isoformat()},
    )
    url = invitation_url(token)
    inviter = display_name(actor)
    if not refreshed:
        notify_members(
            workspace=workspace,
            message=f"{inviter} invited {email} to {workspace.name}.",
            url=f"{reverse('workspaces:workspace-settings')}?open={workspace.slug}",
            exclude=[actor],
            min_role=Role.ADMIN,
        )
        invitee = User.objects.filter(email__iexact=email, is_active=True).first()
        if invitee is not None:
            notify(
                users=[invitee],
                message=f"{inviter} invited you to join {workspace.name}.",
                url=reverse("workspaces:invitation-join", args=[invitation.pk]),
                workspace=workspace,
            )
    transaction.on_commit(
        lambda: send_invitation_email(
            email=email, workspace_name=workspace.name, inviter=inviter, url=url, expires_at=expires_at
        )
    )
    return IssuedInvitation(invitation, token, url, refreshed)


def send_invitation_email(*, email: str, workspace_name: str, inviter: str, url: str, expires_at) -> bool:
    """Mail the invitation link. A mail failure is logged, not raised: the inviter has the link."""
    context = {"workspace_name": workspace_name, "inviter": inviter, "url": url, "expires_at": expires_at}
    subject = " ".join(render_to_string("workspaces/email/invitation_subject.txt", context).split())
    body = render_to_string("workspaces/email/invitation.txt", context)
    try:
        send_mail(subject, body, None, [email])
    except Exception:
        logger.exception("could not send the invitation email to %s", email)
        return False
    return True


def invitation_from_token(token: str) -> Invitation | None:
    """The invitation whose link carries TOKEN (whatever its state), or None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    # Looked up across workspaces on purpose: the token is what names the workspace.
    return (
        Invitation.objects.dangerously_all()
        .select_related("workspace", "invited_by")
        .filter(token_hash=keyed_hash(token))
        .first()
    )


def invitation_state(invitation: Invitation) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= timezone.now():
        return "expired"
    return "pending"


STATE_MESSAGES = {
    "accepted": "This invitation was already used. Ask for a new one if you still need to join.",
    "revoked": "This invitation was cancelled by the workspace's administrators.",
    "expired": "This invitation has expired. Ask the workspace's administrators for a new one.",
}


def email_matches(invitation: Invitation, user) -> bool:
    return bool(user.email) and user.email.lower() == invitation.email.lower()


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """USER joins the invitation's workspace. Single use: the row is locked and re-checked.

    Raises PermissionDenied when USER's email is not the invited one, ValidationError when
    the invitation is no longer pending or USER is already a member.
    """
    workspace = invitation.workspace
    invitation = Invitation.objects.for_workspace(workspace).select_for_update().get(pk=invitation.pk)
    state = invitation_state(invitation)
    if state != "pending":
        raise ValidationError(STATE_MESSAGES[state])
    if not email_matches(invitation, user):
        raise PermissionDenied(
            f"This invitation is for {invitation.email}, and you are signed in as {user.email}."
        )
    if is_member(workspace=workspace, user=user):
        raise ValidationError(f"You are already a member of {workspace.name}.")
    membership = membership_add(workspace=workspace, user=user, role=Role(invitation.role), actor=user)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_log(
        actor=user,
        action="invitation.accept",
        workspace=workspace,
        target=invitation,
        target_label=invitation.email,
        after={"role": Role(invitation.role).label},
    )
    notify_members(
        workspace=workspace,
        message=f"{display_name(user)} joined {workspace.name}.",
        url=f"{reverse('workspaces:workspace-settings')}?open={workspace.slug}",
        exclude=[user],
    )
    return membership


@transaction.atomic
def invitation_signup(*, invitation: Invitation, username: str, password: str) -> User:
    """Create the invitee's account (email fixed to the invited one) and accept, all or nothing."""
    state = invitation_state(invitation)
    if state != "pending":
        raise ValidationError(STATE_MESSAGES[state])
    user = user_create(email=invitation.email, password=password, username=username)
    invitation_accept(invitation=invitation, user=user)
    return user


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    """Cancel a pending invitation: its link stops working."""
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_log(
            actor=actor,
            action="invitation.revoke",
            workspace=invitation.workspace,
            target=invitation,
            target_label=invitation.email,
        )
    return invitation
