"""Who is in which group. Every authorization check on groups goes through here."""

from .models import BUILTIN_DESCRIPTIONS, BuiltinGroup, GroupMembership, UserGroup


def builtin_groups_ensure(*, workspace) -> dict[str, UserGroup]:
    """The workspace's three built-in groups, created on first use."""
    existing = {g.builtin: g for g in UserGroup.objects.for_workspace(workspace).exclude(builtin="")}
    for builtin in BuiltinGroup:
        if builtin.value not in existing:
            existing[builtin.value], _ = UserGroup.objects.get_or_create(
                workspace=workspace,
                builtin=builtin.value,
                defaults={"name": builtin.label, "description": BUILTIN_DESCRIPTIONS[builtin]},
            )
    return existing


def user_group_ids(*, workspace, user) -> set[int]:
    """Ids of every group of WORKSPACE that USER belongs to, the implicit `Users` group included.

    `Admins` membership follows the workspace role (Membership.role >= ADMIN), so that
    one source of truth decides who administers a workspace.
    """
    from workspaces.models import Membership

    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None:
        return set()
    groups = builtin_groups_ensure(workspace=workspace)
    ids = set(
        GroupMembership.objects.filter(group__workspace=workspace, user=user)
        .exclude(group__builtin__in=[BuiltinGroup.USERS, BuiltinGroup.ADMINS])
        .values_list("group_id", flat=True)
    )
    ids.add(groups[BuiltinGroup.USERS].pk)
    if membership.is_admin:
        ids.add(groups[BuiltinGroup.ADMINS].pk)
    return ids
