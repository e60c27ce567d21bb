from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from access.models import GroupMembership

from .audit import audit_log, changes
from .credentials import credentials_revoke_for_member
from .models import Membership, Role, Workspace

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


@transaction.atomic
def membership_add(*, workspace: Workspace, user, role: Role = Role.MEMBER, actor=None) -> Membership:
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    if created:
        audit_log(
            actor=actor or user,
            action="member.add",
            workspace=workspace,
            target=membership,
            target_label=user.email,
            after={"role": Role(role).label},
        )
    return membership


def leave_refusal(*, membership: Membership) -> str | None:
    """Why MEMBERSHIP's user may not leave its workspace, or None if they may."""
    workspace = membership.workspace
    if workspace.is_personal:
        return "This is your personal workspace: it cannot be left."
    if membership.role >= Role.OWNER or workspace.owner_id == membership.user_id:
        return "You own this workspace: the owner cannot leave it while owning it."
    return None


@transaction.atomic
def membership_leave(*, membership: Membership) -> int:
    """MEMBERSHIP's user leaves its workspace: their credentials there are revoked (tokens stop at
    once), the membership is deleted. What they logged stays. Returns the number of revoked credentials.

    Rejoining needs a new invitation.
    """
    refusal = leave_refusal(membership=membership)
    if refusal:
        raise ValidationError(refusal)
    workspace, user = membership.workspace, membership.user
    revoked = credentials_revoke_for_member(workspace=workspace, user=user, actor=user)
    audit_log(
        actor=user,
        action="member.leave",
        workspace=workspace,
        target=membership,
        target_label=user.email,
        before={"role": Role(membership.role).label},
        after={"credentials_revoked": revoked},
    )
    # Group memberships go too: a re-invited user starts without their old groups.
    GroupMembership.objects.filter(group__workspace=workspace, user=user).delete()
    membership.delete()
    return revoked
