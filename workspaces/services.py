from django.db import IntegrityError, transaction
from django.utils.text import slugify

from .audit import audit_log, changes
from .models import Membership, Role, Workspace


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
    name = name.strip()
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
