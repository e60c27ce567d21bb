"""workspaces.services owns memberships and roles: one way out (membership_remove) for removing,
leaving and deleting a service account; one way to change a role (membership_role_set); the
other apps react through workspaces.hooks; the built-in groups come with the workspace."""

import ast
import importlib
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import PermissionDenied, ValidationError

from access import services as access_services
from access.models import BuiltinGroup, GroupMembership, ImpersonationGrant, UserGroup
from access.selectors import builtin_groups
from workspaces import hooks
from workspaces.credentials import credential_create
from workspaces.models import AuditEvent, Credential, Membership, Role
from workspaces.selectors import membership_find
from workspaces.services import membership_leave, membership_remove, membership_role_set, workspace_create

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FEATURE_APPS = {"access", "resources", "vaults", "billing", "identity"}


@pytest.fixture
def recorded():
    """The calls of every workspaces hook during the test."""
    calls = []

    def receiver_for(name):
        def receiver(**kwargs):
            calls.append((name, kwargs))

        return receiver

    receivers = {
        hook: receiver_for(hook.name)
        for hook in (hooks.workspace_created, hooks.membership_removed, hooks.membership_role_changed)
    }
    for hook, receiver in receivers.items():
        hook.connect(receiver)
    yield calls
    for hook, receiver in receivers.items():
        hook.disconnect(receiver)


def test_a_new_workspace_has_its_builtin_groups_at_once(owner, recorded):
    workspace = workspace_create(owner=owner, name="Fresh")
    groups = builtin_groups(workspace=workspace)
    assert {key: group.name for key, group in groups.items()} == {
        "users": "Users",
        "admins": "Admins",
        "queue_admins": "Queue admins",
    }
    assert [name for name, _ in recorded] == ["workspace_created"]


def test_reading_the_builtin_groups_creates_nothing(workspace):
    UserGroup.objects.for_workspace(workspace).filter(builtin=BuiltinGroup.QUEUE_ADMINS).delete()
    assert BuiltinGroup.QUEUE_ADMINS not in builtin_groups(workspace=workspace)
    assert not UserGroup.objects.for_workspace(workspace).filter(builtin=BuiltinGroup.QUEUE_ADMINS).exists()


def test_the_data_migration_gives_existing_workspaces_their_builtin_groups(workspace, owner):
    migration = importlib.import_module("access.migrations.0007_builtin_groups_for_every_workspace")
    UserGroup.objects.for_workspace(workspace).exclude(builtin="").delete()
    # A custom group took the name "Admins" meanwhile: the built-in one gets another name.
    access_services.group_create(workspace=workspace, actor=owner, name="Admins")
    migration.create_builtin_groups(django_apps, None)
    migration.create_builtin_groups(django_apps, None)  # again: nothing more
    groups = builtin_groups(workspace=workspace)
    assert {key: group.name for key, group in groups.items()} == {
        "users": "Users",
        "admins": "Admins (built-in)",
        "queue_admins": "Queue admins",
    }
    assert UserGroup.objects.for_workspace(workspace).count() == 4


def _give_everything(workspace, owner, user):
    """USER gets a credential, a custom group and an impersonation grant (as owner) in WORKSPACE."""
    credential, _ = credential_create(workspace=workspace, actor=owner, user=user)
    group = access_services.group_create(workspace=workspace, actor=owner, name=f"g-{user.username}")
    GroupMembership.objects.create(group=group, user=user)
    ImpersonationGrant.objects.create(workspace=workspace, credential=credential, caller=owner, owner=user)
    return credential


def _assert_all_gone(workspace, user, credential):
    assert membership_find(workspace=workspace, user=user) is None
    assert Credential.objects.get(pk=credential.pk).is_revoked
    assert not GroupMembership.objects.filter(group__workspace=workspace, user=user).exists()
    assert not ImpersonationGrant.objects.filter(owner=user, revoked_at__isnull=True).exists()


def test_remove_leave_and_service_account_delete_take_the_one_path(
    workspace, owner, member, admin_member, recorded
):
    account, _, _ = access_services.service_account_create(workspace=workspace, actor=owner, name="bot")
    ways_out = [
        (member, 1, lambda: access_services.member_remove(workspace=workspace, actor=owner, user=member)),
        (
            admin_member,
            1,
            lambda: membership_leave(
                membership=Membership.objects.get(workspace=workspace, user=admin_member)
            ),
        ),
        # The service account's first credential, and the one given here.
        (account.user, 2, lambda: access_services.service_account_delete(account=account, actor=owner)),
    ]
    for user, credentials, way_out in ways_out:
        credential = _give_everything(workspace, owner, user)
        recorded.clear()
        assert way_out() == credentials
        assert [(name, kwargs["user"]) for name, kwargs in recorded] == [("membership_removed", user)]
        _assert_all_gone(workspace, user, credential)
    actions = list(AuditEvent.objects.for_workspace(workspace).values_list("action", flat=True))
    assert {"member.remove", "member.leave", "service_account.delete"} <= set(actions)


def test_membership_remove_keeps_the_owner_and_checks_the_actor(workspace, owner, member, admin_member):
    with pytest.raises(ValidationError, match="owner"):
        membership_remove(workspace=workspace, actor=admin_member, user=owner)
    with pytest.raises(PermissionDenied):
        membership_remove(workspace=workspace, actor=member, user=admin_member)
    with pytest.raises(ValidationError, match="not a member"):
        membership_remove(workspace=workspace, actor=owner, user=owner.__class__(email="x@example.com"))
    assert membership_find(workspace=workspace, user=admin_member) is not None


def test_a_role_change_runs_the_hook_inside_the_service(workspace, owner, member, recorded):
    assert membership_role_set(workspace=workspace, actor=owner, user=member, role=Role.ADMIN)
    assert not membership_role_set(workspace=workspace, actor=owner, user=member, role=Role.ADMIN)
    assert [(n, k["before"], k["after"]) for n, k in recorded] == [
        ("membership_role_changed", Role.MEMBER, Role.ADMIN)
    ]
    with pytest.raises(PermissionDenied):
        membership_role_set(workspace=workspace, actor=owner, user=member, role=Role.OWNER)
    with pytest.raises(ValidationError, match="owner is always"):
        membership_role_set(workspace=workspace, actor=owner, user=owner, role=Role.MEMBER)


def test_a_failing_receiver_undoes_the_whole_removal(workspace, owner, member):
    def refuse(**kwargs):
        raise RuntimeError("receiver failed")

    hooks.membership_removed.connect(refuse)
    try:
        with pytest.raises(RuntimeError):
            access_services.member_remove(workspace=workspace, actor=owner, user=member)
    finally:
        hooks.membership_removed.disconnect(refuse)
    assert membership_find(workspace=workspace, user=member) is not None


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_workspaces_imports_no_feature_app():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_apps(path) & FEATURE_APPS)
        for path in (ROOT / "workspaces").rglob("*.py")
    }
    assert {path: apps for path, apps in offenders.items() if apps} == {}
