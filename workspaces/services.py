"""The only way into and out of a workspace, and the only writer of memberships and roles.

Feature apps react to these changes through workspaces.hooks (registered in their
AppConfig.ready()); this module imports none of them.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from . import hooks
from .audit import audit_log, changes
from .credentials import credentials_revoke_for_member
from .models import Invitation, Membership, Role, Workspace
from .selectors import admin_count, membership_find

MAX_NAME_LENGTH = Workspace._meta.get_field("name").max_length


def clean_workspace_name(name: str | None) -> str:
    """NAME stripped, or ValidationError({"name": ...}) when empty, too long or multi-line."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a workspace name."})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"Use at most {MAX_NAME_LENGTH} characters."})
    if any(ch in name for ch in "\r\n\x00"):
        raise ValidationError({"name": "A workspace name is a single line of text."})
    return name


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(*, owner, name: str, personal: bool = False, actor=None) -> Workspace:
    """Create a workspace with OWNER as its owner member."""
    name = clean_workspace_name(name)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                workspace = Workspace.objects.create(
                    name=name, slug=_unique_slug(name), is_personal=personal, owner=owner
                )
            break
        except IntegrityError:  # a concurrent create took the slug: pick again
            continue
    else:
        raise RuntimeError("could not allocate a workspace slug")
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    audit_log(
        actor=actor or owner,
        action="workspace.create",
        workspace=workspace,
        target=workspace,
        after={"name": name, "personal": personal},
    )
    # access creates the built-in groups here, so every workspace has them from the start.
    hooks.workspace_created.send(workspace=workspace, actor=actor or owner)
    return workspace


@transaction.atomic
def workspace_rename(*, workspace: Workspace, actor, name: str) -> Workspace:
    """Rename WORKSPACE (the caller checked ACTOR's role; None = an operator command)."""
    name = clean_workspace_name(name)
    before, after = changes({"name": workspace.name}, {"name": name})
    if after:
        workspace.name = name
        workspace.save(update_fields=["name"])
        audit_log(
            actor=actor,
            action="workspace.rename",
            workspace=workspace,
            target=workspace,
            before=before,
            after=after,
        )
    return workspace


# The largest member limit the portal takes (a PositiveIntegerField holds more; no plan needs it).
MAX_MEMBER_LIMIT = 100_000


def member_limit_refusal(*, workspace: Workspace, max_members: int | None) -> str:
    """Why WORKSPACE cannot take MAX_MEMBERS as its member limit ("" when it can): below one,
    too large, or below the seats in use (members, service accounts and pending invitations)."""
    if max_members is None:
        return ""
    if max_members < 1:
        return "The member limit is at least 1 (the owner is a member)."
    if max_members > MAX_MEMBER_LIMIT:
        return f"The member limit is at most {MAX_MEMBER_LIMIT}."
    members = Membership.objects.for_workspace(workspace).count()
    pending = Invitation.objects.for_workspace(workspace).pending().count()
    used = members + pending
    if max_members < used:
        invitations = f" and {pending} pending invitation{'s' if pending != 1 else ''}" if pending else ""
        return (
            f"{workspace.name} uses {used} seats ({members} member{'s' if members != 1 else ''}"
            f"{invitations}): the limit cannot be below {used}. Remove members or revoke "
            "invitations first."
        )
    return ""


@transaction.atomic
def workspace_set_member_limit(*, workspace: Workspace, actor, max_members: int | None) -> Workspace:
    """Set (or, with None, clear) WORKSPACE's member limit. ACTOR is its owner, or None for an
    operator command. Refused (ValidationError, nothing changed) below the seats in use."""
    if actor is not None:
        membership = membership_find(workspace=workspace, user=actor)
        if membership is None or membership.role < Role.OWNER:
            raise PermissionDenied("Only the workspace's owner can change its member limit.")
    # Locked like invitation_create does, so no invitation slips in between the count and the save.
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    refusal = member_limit_refusal(workspace=workspace, max_members=max_members)
    if refusal:
        raise ValidationError({"max_members": refusal})
    before, after = changes({"max_members": workspace.max_members}, {"max_members": max_members})
    if after:
        workspace.max_members = max_members
        workspace.save(update_fields=["max_members"])
        audit_log(
            actor=actor,
            action="workspace.member_limit",
            workspace=workspace,
            target=workspace,
            before=before,
            after=after,
        )
    return workspace


# --- Rights ---------------------------------------------------------------------------------------


def admin_require(*, workspace: Workspace, actor) -> Membership | None:
    """ACTOR's membership, checked to be an administrator's; None for an operator (ACTOR=None)."""
    if actor is None:
        return None
    membership = membership_find(workspace=workspace, user=actor)
    if membership is None or not membership.is_admin:
        raise PermissionDenied(f"Only administrators of {workspace.name} can do this.")
    return membership


def role_grant_check(*, actor_membership: Membership | None, role: Role) -> None:
    """Nobody grants a role above their own, and ownership is never granted."""
    if role >= Role.OWNER:
        raise PermissionDenied("The owner role cannot be granted.")
    if actor_membership is not None and role > actor_membership.role:
        raise PermissionDenied("You cannot grant a role above your own.")


# --- Memberships ----------------------------------------------------------------------------------


@transaction.atomic
def membership_add(
    *, workspace: Workspace, user, role: Role = Role.MEMBER, actor=None, audit: bool = True
) -> Membership:
    """USER joins WORKSPACE with ROLE (an existing membership is returned unchanged).

    AUDIT=False when the caller's own audit row describes the change (a service account's creation).
    """
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    if created and audit:
        audit_log(
            actor=actor or user,
            action="member.add",
            workspace=workspace,
            target=membership,
            target_label=user.email,
            after={"role": Role(role).label},
        )
    return membership


_UNCHECKED = object()


@transaction.atomic
def membership_role_set(*, workspace: Workspace, actor, user, role: Role, acting=_UNCHECKED) -> bool:
    """Give USER the ROLE (member or admin) in WORKSPACE; False when nothing changed.

    ACTOR must administer the workspace (None: an operator); ACTING is ACTOR's membership when
    the caller has already checked it with `admin_require`. Nobody grants a role above their
    own or changes the role of someone above their own; the owner stays owner; the last
    administrator stays one. Receivers of `hooks.membership_role_changed` run in the transaction.
    """
    if acting is _UNCHECKED:
        acting = admin_require(workspace=workspace, actor=actor)
    membership = membership_find(workspace=workspace, user=user)
    if membership is None:
        raise ValidationError(f"{user} is not a member of {workspace.name}.")
    if membership.role >= Role.OWNER:
        if role < Role.ADMIN:
            raise ValidationError("The owner is always an administrator.")
        return False
    if membership.role == role:
        return False
    role_grant_check(actor_membership=acting, role=role)
    if acting is not None and membership.role > acting.role:
        raise PermissionDenied("You cannot change the role of someone above your own.")
    if role < Role.ADMIN and membership.is_admin and admin_count(workspace=workspace) <= 1:
        raise ValidationError("The last administrator cannot be removed from Admins.")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    hooks.membership_role_changed.send(
        workspace=workspace, user=user, actor=actor, before=Role(before), after=Role(role)
    )
    audit_log(
        actor=actor,
        action="member.role",
        workspace=workspace,
        target=membership,
        target_label=user.email,
        before={"role": Role(before).label},
        after={"role": Role(role).label},
    )
    return True


@transaction.atomic
def membership_remove(
    *, workspace: Workspace, actor, user, audit_action: str | None = "member.remove"
) -> int:
    """USER leaves WORKSPACE: the one path of removing a member, leaving, and deleting a service
    account. Access ends at once: their credentials there are revoked (tokens stop), the receivers
    of `hooks.membership_removed` drop what other apps gave them (group memberships, impersonation
    grants), the membership is deleted. What they logged stays. Returns the number of revoked
    credentials.

    ACTOR is USER (leaving), an administrator not below USER's role, or None (an operator).
    The owner and the last administrator cannot be removed. AUDIT_ACTION names the audit row
    ("member.remove", "member.leave"); None when the caller writes its own.
    """
    membership = (
        Membership.objects.for_workspace(workspace)
        .select_for_update()
        .select_related("user")
        .filter(user=user)
        .first()
    )
    if membership is None:
        raise ValidationError(f"{user} is not a member of {workspace.name}.")
    acting = admin_require(workspace=workspace, actor=actor) if actor != user else None
    if membership.role >= Role.OWNER or workspace.owner_id == user.pk:
        raise ValidationError("The owner of the workspace cannot be removed.")
    if acting is not None and membership.role > acting.role:
        raise PermissionDenied("You cannot remove someone with a role above your own.")
    if membership.is_admin and admin_count(workspace=workspace) <= 1:
        raise ValidationError("The last administrator cannot be removed.")
    revoked = credentials_revoke_for_member(workspace=workspace, user=user, actor=actor)
    hooks.membership_removed.send(workspace=workspace, user=user, actor=actor)
    if audit_action:
        audit_log(
            actor=actor,
            action=audit_action,
            workspace=workspace,
            target=membership,
            target_label=user.email,
            before={"role": Role(membership.role).label},
            after={"credentials_revoked": revoked},
        )
    membership.delete()
    return revoked


def leave_refusal(*, membership: Membership) -> str | None:
    """Why MEMBERSHIP's user may not leave its workspace, or None if they may."""
    workspace = membership.workspace
    if workspace.is_personal:
        return "This is your personal workspace: it cannot be left."
    if membership.role >= Role.OWNER or workspace.owner_id == membership.user_id:
        return "You own this workspace: the owner cannot leave it while owning it."
    return None


def membership_leave(*, membership: Membership) -> int:
    """MEMBERSHIP's user leaves its workspace (see membership_remove). Rejoining needs a new invitation."""
    refusal = leave_refusal(membership=membership)
    if refusal:
        raise ValidationError(refusal)
    user = membership.user
    return membership_remove(
        workspace=membership.workspace, actor=user, user=user, audit_action="member.leave"
    )
