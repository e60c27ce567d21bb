"""Users & Groups: removing members, service accounts, user groups and the Admins/role mirror.

Every service takes ACTOR, the user making the change, and checks that they administer
the workspace (views check it too; services check again so no path can skip it).
ACTOR=None means an operator on the command line (`portal_groups`, `portal_service_accounts`).
"""

import re
import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from settings_portal.names import name_digest
from workspaces.audit import audit_log, changes
from workspaces.credentials import credential_create, credential_revoke
from workspaces.models import Credential, Membership, Role, Workspace
from workspaces.selectors import membership_find
from workspaces.services import admin_require, membership_add, membership_remove, membership_role_set

from .impersonation import grants_revoke
from .kinds import kind_for
from .models import BUILTIN_DESCRIPTIONS, AccessRule, BuiltinGroup, GroupMembership, ServiceAccount, UserGroup
from .selectors import builtin_groups

# No "@": a service account's name becomes its username, and sign-in accepts usernames or emails.
NAME_RE = re.compile(r"^[\w.\- ]+$")
SERVICE_ACCOUNT_EMAIL_DOMAIN = "service.invalid"


# --- Rights -------------------------------------------------------------------------------------
# Who administers a workspace, and who may grant which role, is workspaces.services'
# (admin_require, role_grant_check): the role lives on the membership.


def _member_of(workspace: Workspace, user) -> Membership:
    membership = membership_find(workspace=workspace, user=user)
    if membership is None:
        raise ValidationError(f"{user} is not a member of {workspace.name}.")
    return membership


# --- Members ------------------------------------------------------------------------------------


def member_remove(*, workspace: Workspace, actor, user: User) -> int:
    """Remove USER from WORKSPACE (workspaces.services.membership_remove: access ends at once, their
    credentials there are revoked, their group memberships and impersonation grants go; what they
    logged stays). Returns the number of revoked credentials.

    The owner and the last administrator cannot be removed. Service accounts are deleted
    with `service_account_delete` instead.
    """
    admin_require(workspace=workspace, actor=actor)
    if user.is_service_account:
        raise ValidationError("Delete a service account from the Service Accounts table.")
    return membership_remove(workspace=workspace, actor=actor, user=user)


# --- Reactions to workspaces.hooks (connected in AccessConfig.ready) -------------------------------


def builtin_groups_create(*, workspace: Workspace, actor=None) -> None:
    """Create WORKSPACE's three built-in groups (with the workspace: nothing creates them later)."""
    UserGroup.objects.bulk_create(
        [
            UserGroup(workspace=workspace, builtin=b.value, name=b.label, description=BUILTIN_DESCRIPTIONS[b])
            for b in BuiltinGroup
        ]
    )


def member_access_drop(*, workspace: Workspace, user: User, actor=None) -> None:
    """USER leaves WORKSPACE: their group memberships go (a re-invited user starts without their old
    groups), and every impersonation by or of them there is revoked (tokens stop at once)."""
    GroupMembership.objects.filter(group__workspace=workspace, user=user).delete()
    grants_revoke(workspace=workspace, user=user, reason="left or removed from the workspace")


def admin_rights_drop(*, workspace: Workspace, user: User, actor=None, before: Role, after: Role) -> None:
    """An administrator may impersonate; one no longer administering loses what that gave, unless
    they are a service account allowed to impersonate anyway."""
    if before < Role.ADMIN or after >= Role.ADMIN:
        return
    if ServiceAccount.objects.filter(user=user, workspace=workspace, allow_impersonation=True).exists():
        return
    grants_revoke(workspace=workspace, user=user, as_owner=False, reason="no longer an administrator")


# --- Groups ---------------------------------------------------------------------------------------


def _clean_group_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a name."})
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    if any(ch in name for ch in "\r\n\x00"):
        raise ValidationError({"name": "A name is a single line of text."})
    return name


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > 500:
        raise ValidationError({"description": "Use at most 500 characters."})
    return description


def _check_name_free(workspace: Workspace, name: str, exclude: UserGroup | None = None) -> None:
    # By canonical key: `ML`, `ｍｌ` and `m\u200bl` are one name (settings_portal/names.py).
    clash = UserGroup.objects.for_workspace(workspace).filter(name_key=name_digest(name))
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise ValidationError({"name": "A group with that name already exists."})


def _users_of_workspace(workspace: Workspace, user_ids: Iterable) -> list[User]:
    """The members of WORKSPACE among USER_IDS; an id that is not a member is an error."""
    wanted = {uuid.UUID(str(pk)) for pk in user_ids}
    users = list(User.objects.filter(pk__in=wanted, memberships__workspace=workspace).order_by("username"))
    if len(users) != len(wanted):
        raise ValidationError({"members": "Members must be users or service accounts of this workspace."})
    return users


def _member_emails(users: Iterable[User]) -> list[str]:
    return sorted(user.email for user in users)


def _set_admin(*, workspace: Workspace, acting: Membership | None, actor, user: User, admin: bool) -> bool:
    """Mirror of the Admins group on the role: adding makes an ADMIN, removing a MEMBER; the owner stays."""
    return membership_role_set(
        workspace=workspace, actor=actor, user=user, role=Role.ADMIN if admin else Role.MEMBER, acting=acting
    )


def _group_member_ids(group: UserGroup) -> set:
    if group.builtin == BuiltinGroup.ADMINS:
        return set(
            Membership.objects.for_workspace(group.workspace).admins().values_list("user_id", flat=True)
        )
    return set(group.memberships.values_list("user_id", flat=True))


def _apply_members(*, group: UserGroup, acting, actor, users: list[User]) -> tuple[list[str], list[str]]:
    """Make USERS the members of GROUP; returns the (added, removed) emails."""
    current = _group_member_ids(group)
    wanted = {user.pk for user in users}
    added = [user for user in users if user.pk not in current]
    removed_ids = current - wanted
    removed = list(User.objects.filter(pk__in=removed_ids)) if removed_ids else []
    if group.builtin == BuiltinGroup.ADMINS:
        for user in added:
            _set_admin(workspace=group.workspace, acting=acting, actor=actor, user=user, admin=True)
        for user in removed:
            _set_admin(workspace=group.workspace, acting=acting, actor=actor, user=user, admin=False)
    else:
        GroupMembership.objects.bulk_create(
            [GroupMembership(group=group, user=user) for user in added], ignore_conflicts=True
        )
        if removed_ids:
            GroupMembership.objects.filter(group=group, user_id__in=removed_ids).delete()
    return _member_emails(added), _member_emails(removed)


@transaction.atomic
def group_create(
    *, workspace: Workspace, actor, name: str, description: str = "", member_ids: Iterable = ()
) -> UserGroup:
    """Create a user group with its members (users and service accounts of WORKSPACE)."""
    acting = admin_require(workspace=workspace, actor=actor)
    name = _clean_group_name(name)
    description = _clean_description(description)
    _check_name_free(workspace, name)
    users = _users_of_workspace(workspace, member_ids)
    try:
        with transaction.atomic():
            group = UserGroup.objects.create(workspace=workspace, name=name, description=description)
    except IntegrityError:  # a concurrent create took the name
        raise ValidationError({"name": "A group with that name already exists."}) from None
    _apply_members(group=group, acting=acting, actor=actor, users=users)
    audit_log(
        actor=actor,
        action="group.create",
        workspace=workspace,
        target=group,
        after={"name": name, "description": description, "members": _member_emails(users)},
    )
    return group


@transaction.atomic
def group_update(*, group: UserGroup, actor, name: str, description: str, member_ids: Iterable) -> UserGroup:
    """Rename, describe and set the members of GROUP.

    `Users` cannot be modified; the built-in groups keep their names; the members of `Admins`
    are the workspace's administrators (changing them changes roles).
    """
    workspace = group.workspace
    acting = admin_require(workspace=workspace, actor=actor)
    if group.builtin == BuiltinGroup.USERS:
        raise ValidationError("The Users group holds every member and cannot be modified.")
    name = _clean_group_name(name)
    description = _clean_description(description)
    if group.is_builtin and name != group.name:
        raise ValidationError({"name": "A built-in group cannot be renamed."})
    _check_name_free(workspace, name, exclude=group)
    users = _users_of_workspace(workspace, member_ids)
    before, after = changes(
        {"name": group.name, "description": group.description}, {"name": name, "description": description}
    )
    if after:
        group.name, group.description = name, description
        group.save(update_fields=["name", "description"])
    added, removed = _apply_members(group=group, acting=acting, actor=actor, users=users)
    if added:
        after["members_added"] = added
    if removed:
        after["members_removed"] = removed
    if after:
        audit_log(
            actor=actor, action="group.update", workspace=workspace, target=group, before=before, after=after
        )
    return group


@transaction.atomic
def group_add_member(*, group: UserGroup, actor, user: User) -> bool:
    """Add USER to GROUP; False when they already were in it."""
    workspace = group.workspace
    acting = admin_require(workspace=workspace, actor=actor)
    if group.builtin == BuiltinGroup.USERS:
        raise ValidationError("Every member is in Users already; it cannot be modified.")
    _member_of(workspace, user)
    if group.builtin == BuiltinGroup.ADMINS:
        return _set_admin(workspace=workspace, acting=acting, actor=actor, user=user, admin=True)
    _, created = GroupMembership.objects.get_or_create(group=group, user=user)
    if created:
        audit_log(
            actor=actor,
            action="group.update",
            workspace=workspace,
            target=group,
            after={"members_added": [user.email]},
        )
    return created


@transaction.atomic
def group_remove_member(*, group: UserGroup, actor, user: User) -> bool:
    workspace = group.workspace
    acting = admin_require(workspace=workspace, actor=actor)
    if group.builtin == BuiltinGroup.USERS:
        raise ValidationError("The Users group holds every member and cannot be modified.")
    if group.builtin == BuiltinGroup.ADMINS:
        return _set_admin(workspace=workspace, acting=acting, actor=actor, user=user, admin=False)
    deleted, _ = GroupMembership.objects.filter(group=group, user=user).delete()
    if deleted:
        audit_log(
            actor=actor,
            action="group.update",
            workspace=workspace,
            target=group,
            after={"members_removed": [user.email]},
        )
    return bool(deleted)


@transaction.atomic
def group_delete(*, group: UserGroup, actor) -> None:
    """Delete GROUP: what was granted through it is gone with it. Built-in groups stay."""
    workspace = group.workspace
    admin_require(workspace=workspace, actor=actor)
    if group.is_builtin:
        raise ValidationError(f"{group.name} is a built-in group and cannot be deleted.")
    members = _member_emails(User.objects.filter(group_memberships__group=group))
    audit_log(
        actor=actor,
        action="group.delete",
        workspace=workspace,
        target=group,
        before={"name": group.name, "description": group.description, "members": members},
    )
    group.delete()


@transaction.atomic
def user_groups_set(*, workspace: Workspace, actor, user: User, group_ids: Iterable[int]) -> None:
    """Make GROUP_IDS the groups of USER (a member or a service account of WORKSPACE).

    `Users` is implicit (ignored here); `Admins` changes the role.
    """
    acting = admin_require(workspace=workspace, actor=actor)
    _member_of(workspace, user)
    groups = builtin_groups(workspace=workspace)
    wanted = {int(pk) for pk in group_ids}
    valid = set(UserGroup.objects.for_workspace(workspace).filter(pk__in=wanted).values_list("pk", flat=True))
    if valid != wanted:
        raise ValidationError({"groups": "Pick groups of this workspace."})
    admins, users_group = groups[BuiltinGroup.ADMINS], groups[BuiltinGroup.USERS]
    wanted.discard(users_group.pk)
    _set_admin(workspace=workspace, acting=acting, actor=actor, user=user, admin=admins.pk in wanted)
    wanted.discard(admins.pk)
    current = set(
        GroupMembership.objects.filter(group__workspace=workspace, user=user)
        .exclude(group__builtin__in=[BuiltinGroup.USERS, BuiltinGroup.ADMINS])
        .values_list("group_id", flat=True)
    )
    added, removed = wanted - current, current - wanted
    GroupMembership.objects.bulk_create(
        [GroupMembership(group_id=pk, user=user) for pk in added], ignore_conflicts=True
    )
    GroupMembership.objects.filter(group_id__in=removed, user=user).delete()
    if added or removed:
        names = dict(
            UserGroup.objects.for_workspace(workspace)
            .filter(pk__in=added | removed)
            .values_list("pk", "name")
        )
        audit_log(
            actor=actor,
            action="member.groups",
            workspace=workspace,
            target=user,
            target_label=user.email,
            before={"groups_removed": sorted(names[pk] for pk in removed)} if removed else None,
            after={"groups_added": sorted(names[pk] for pk in added)} if added else None,
        )


# --- Service accounts -----------------------------------------------------------------------------


def _clean_account_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a name."})
    if len(name) > 64:
        raise ValidationError({"name": "Use at most 64 characters."})
    if not NAME_RE.match(name):
        raise ValidationError({"name": "Use letters, digits, spaces and . - _ only."})
    return name


def _unique_username(name: str, exclude: User | None = None) -> str:
    """NAME as a username, suffixed when another user (anywhere) has it already."""
    base, candidate, n = name[:56], name, 1
    while True:
        clash = User.objects.filter(username__iexact=candidate)
        if exclude is not None:
            clash = clash.exclude(pk=exclude.pk)
        if not clash.exists():
            return candidate
        n += 1
        candidate = f"{base}-{n}"


def _check_account_name_free(workspace: Workspace, name: str, exclude: ServiceAccount | None = None) -> None:
    clash = ServiceAccount.objects.for_workspace(workspace).filter(name_key=name_digest(name))
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise ValidationError({"name": "A service account with that name already exists."})


def _service_account_user_create(name: str, attempts: int = 5) -> User:
    """The User behind a new service account, its username NAME made unique site-wide.

    Two creates at once can pick the same free username; the loser's insert fails on the
    unique index and is retried in its own savepoint with the next free name (which the
    winner's committed row now shows), instead of answering 500."""
    for attempt in range(attempts):
        user_id = uuid.uuid4()
        username = _unique_username(name) if attempt < attempts - 1 else f"{name[:47]}-{user_id.hex[:8]}"
        try:
            with transaction.atomic():
                return User.objects.create_user(
                    email=f"sa-{user_id.hex}@{SERVICE_ACCOUNT_EMAIL_DOMAIN}",
                    password=None,
                    id=user_id,
                    username=username,
                    is_service_account=True,
                )
        except IntegrityError:
            continue
    raise ValidationError({"name": "Another service account is being created with this name; try again."})


@transaction.atomic
def service_account_create(
    *, workspace: Workspace, actor, name: str, allow_impersonation: bool = False, label: str = ""
) -> tuple[ServiceAccount, Credential, str]:
    """Create a service account with its first credentials; returns the account, the credential
    and the plain secret (shown once).

    The account is a User that can never sign in to the UI (no usable password, a
    non-routable email, is_service_account=True) and a member of WORKSPACE.
    """
    admin_require(workspace=workspace, actor=actor)
    name = _clean_account_name(name)
    _check_account_name_free(workspace, name)
    user = _service_account_user_create(name)
    # Its own audit row below records the account; no separate "member.add" row.
    membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=actor, audit=False)
    try:
        with transaction.atomic():
            account = ServiceAccount.objects.create(
                user=user,
                workspace=workspace,
                name=name,
                allow_impersonation=allow_impersonation,
                created_by=actor,
            )
    except IntegrityError:
        raise ValidationError({"name": "A service account with that name already exists."}) from None
    audit_log(
        actor=actor,
        action="service_account.create",
        workspace=workspace,
        target=account,
        after={"name": name, "allow_impersonation": allow_impersonation, "user_id": user.id.hex},
    )
    credential, secret = credential_create(
        workspace=workspace, actor=actor, user=user, label=label or f"{name} credentials"
    )
    return account, credential, secret


@transaction.atomic
def service_account_update(
    *, account: ServiceAccount, actor, name: str | None = None, allow_impersonation: bool | None = None
) -> ServiceAccount:
    workspace = account.workspace
    admin_require(workspace=workspace, actor=actor)
    new = {
        "name": account.name if name is None else _clean_account_name(name),
        "allow_impersonation": account.allow_impersonation
        if allow_impersonation is None
        else bool(allow_impersonation),
    }
    before, after = changes({"name": account.name, "allow_impersonation": account.allow_impersonation}, new)
    if not after:
        return account
    if "name" in after:
        _check_account_name_free(workspace, new["name"], exclude=account)
        account.user.username = _unique_username(new["name"], exclude=account.user)
        account.user.save(update_fields=["username"])
    account.name, account.allow_impersonation = new["name"], new["allow_impersonation"]
    account.save(update_fields=["name", "allow_impersonation"])
    if after.get("allow_impersonation") is False:
        # Tokens it obtained by impersonating stop at once, and never come back.
        after["impersonations_revoked"] = grants_revoke(
            workspace=workspace, user=account.user, as_owner=False, reason="impersonation switched off"
        )
    audit_log(
        actor=actor,
        action="service_account.update",
        workspace=workspace,
        target=account,
        before=before,
        after=after,
    )
    return account


def service_account_credential_create(
    *, account: ServiceAccount, actor, label: str = ""
) -> tuple[Credential, str]:
    """New credentials for ACCOUNT (the plain secret is returned once)."""
    admin_require(workspace=account.workspace, actor=actor)
    return credential_create(workspace=account.workspace, actor=actor, user=account.user, label=label)


def service_account_credential_revoke(*, account: ServiceAccount, actor, credential: Credential) -> None:
    admin_require(workspace=account.workspace, actor=actor)
    if credential.user_id != account.user_id or credential.workspace_id != account.workspace_id:
        raise ValidationError("These credentials do not belong to this service account.")
    credential_revoke(credential=credential, actor=actor, check=False)


@transaction.atomic
def service_account_delete(*, account: ServiceAccount, actor) -> int:
    """Delete ACCOUNT: its credentials are revoked (agents using them fail at once), it leaves
    every group and the workspace; what it logged stays. Returns the number of revoked credentials.

    The User row is kept, deactivated, so the audit trail and revoked credentials still resolve.
    """
    workspace, user = account.workspace, account.user
    admin_require(workspace=workspace, actor=actor)
    revoked = membership_remove(workspace=workspace, actor=actor, user=user, audit_action=None)
    audit_log(
        actor=actor,
        action="service_account.delete",
        workspace=workspace,
        target=account,
        before={"name": account.name, "allow_impersonation": account.allow_impersonation},
        after={"credentials_revoked": revoked},
    )
    # The name is free again for a new account; the row stays for what it logged.
    user.is_active = False
    user.username = f"deleted-{user.id.hex}"
    user.save(update_fields=["is_active", "username"])
    account.delete()
    return revoked


# --- Access Rules -----------------------------------------------------------------------------------


def _rule_validated(*, workspace, resource_type, object_id, permission, user_ids, group_ids):
    errors = {}
    kind = kind_for(workspace, resource_type) if resource_type in AccessRule.ResourceType.values else None
    if kind is None:
        errors["resource_type"] = "Choose a resource type."
    elif object_id is not None and not (kind.names and kind.names(workspace=workspace, ids=[object_id])):
        errors["object"] = "No such object in this workspace."
    if permission not in AccessRule.Permission.values:
        errors["permission"] = "Choose Read Only or Read & Modify."
    users = list(User.objects.filter(pk__in=list(user_ids), memberships__workspace=workspace))
    groups = list(UserGroup.objects.for_workspace(workspace).filter(pk__in=list(group_ids)))
    if len(users) != len(set(user_ids)) or len(groups) != len(set(group_ids)):
        errors["targets"] = "Some targets are not members or groups of this workspace."
    elif not users and not groups:
        errors["targets"] = "Add at least one user, service account or group."
    if errors:
        raise ValidationError(errors)
    return users, groups


def _rule_record(rule: AccessRule) -> dict:
    return {
        "resource_type": rule.resource_type,
        "object_id": rule.object_id,
        "permission": rule.permission,
        "users": sorted(str(pk) for pk in rule.users.values_list("pk", flat=True)),
        "groups": sorted(rule.groups.values_list("pk", flat=True)),
    }


@transaction.atomic
def rule_create(
    *, workspace, actor, resource_type, object_id, permission, user_ids=(), group_ids=()
) -> AccessRule:
    users, groups = _rule_validated(
        workspace=workspace,
        resource_type=resource_type,
        object_id=object_id,
        permission=permission,
        user_ids=user_ids,
        group_ids=group_ids,
    )
    rule = AccessRule.objects.create(
        workspace=workspace,
        resource_type=resource_type,
        object_id=object_id,
        permission=permission,
        created_by=actor,
    )
    rule.users.set(users)
    rule.groups.set(groups)
    audit_log(
        actor=actor, action="access_rule.create", workspace=workspace, target=rule, after=_rule_record(rule)
    )
    return rule


@transaction.atomic
def rule_update(*, rule: AccessRule, actor, resource_type, object_id, permission, user_ids=(), group_ids=()):
    users, groups = _rule_validated(
        workspace=rule.workspace,
        resource_type=resource_type,
        object_id=object_id,
        permission=permission,
        user_ids=user_ids,
        group_ids=group_ids,
    )
    before = _rule_record(rule)
    rule.resource_type, rule.object_id, rule.permission = resource_type, object_id, permission
    rule.save(update_fields=["resource_type", "object_id", "permission"])
    rule.users.set(users)
    rule.groups.set(groups)
    after = _rule_record(rule)
    changed = [key for key in after if after[key] != before[key]]
    audit_log(
        actor=actor,
        action="access_rule.update",
        workspace=rule.workspace,
        target=rule,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: AccessRule, actor) -> None:
    before = _rule_record(rule)
    label = str(rule)
    audit_log(
        actor=actor,
        action="access_rule.delete",
        workspace=rule.workspace,
        target=rule,
        target_label=label,
        before=before,
    )
    rule.delete()
