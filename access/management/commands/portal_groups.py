"""User groups, for operators and scripts: `manage.py portal_groups create|add-member|remove-member|list|delete`.

    portal_groups create --workspace SLUG --name NAME [--description D]
    portal_groups add-member --workspace SLUG --name NAME --user EMAIL
    portal_groups remove-member --workspace SLUG --name NAME --user EMAIL
    portal_groups list --workspace SLUG [--json]
    portal_groups delete --workspace SLUG --name NAME

Adding someone to `Admins` makes them an administrator of the workspace (the group
mirrors the role). Changes are audited with the actor "system".
"""

from django.core.management.base import CommandError

from access import selectors, services
from access.models import UserGroup
from accounts.models import User
from settings_portal.commands import SubcommandCommand
from workspaces.models import Workspace


def _workspace(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with the slug {slug!r}.")
    return workspace


def _group(workspace: Workspace, name: str) -> UserGroup:
    group = UserGroup.objects.for_workspace(workspace).filter(name__iexact=(name or "").strip()).first()
    if group is None:
        raise CommandError(f"No group named {name!r} in {workspace.slug}.")
    return group


def _user(email: str) -> User:
    """A user by email, or a service account by its name's email (sa-…@service.invalid)."""
    user = User.objects.filter(email__iexact=(email or "").strip()).first()
    if user is None:
        raise CommandError(f"No user with the email {email!r}.")
    return user


def group_json(group: UserGroup) -> dict:
    members = selectors.group_members(group=group)
    return {
        "id": group.pk,
        "name": group.name,
        "description": group.description,
        "builtin": group.builtin or None,
        "members": [
            {
                "id": user.id.hex,
                "email": user.email,
                "username": user.username,
                "service_account": user.is_service_account,
            }
            for user in members
        ],
    }


class Command(SubcommandCommand):
    help = "Create, list and change the user groups of a workspace."

    def add_subcommands(self, subparsers) -> None:
        create = subparsers.add_parser("create", help="Create a user group.")
        create.add_argument("--workspace", required=True, metavar="SLUG")
        create.add_argument("--name", required=True)
        create.add_argument("--description", default="")
        create.add_argument("--json", action="store_true")

        for name, text in [("add-member", "Add a member to a group."), ("remove-member", "Remove a member.")]:
            sub = subparsers.add_parser(name, help=text)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            sub.add_argument("--name", required=True, help="The group's name.")
            sub.add_argument("--user", required=True, metavar="EMAIL")

        listing = subparsers.add_parser("list", help="List the groups and their members.")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--json", action="store_true")

        delete = subparsers.add_parser("delete", help="Delete a group (not a built-in one).")
        delete.add_argument("--workspace", required=True, metavar="SLUG")
        delete.add_argument("--name", required=True)

    def handle_create(self, *, workspace, name, description, json, **_):
        target = _workspace(workspace)
        group = services.group_create(workspace=target, actor=None, name=name, description=description)
        if json:
            self.print_json(group_json(group))
        else:
            self.stdout.write(f"Created group {group.name} (id {group.pk}) in {target.slug}")

    def handle_add_member(self, *, workspace, name, user, **_):
        target = _workspace(workspace)
        group, member = _group(target, name), _user(user)
        added = services.group_add_member(group=group, actor=None, user=member)
        self.stdout.write(
            f"Added {member.email} to {group.name}" if added else f"{member.email} is already in {group.name}"
        )

    def handle_remove_member(self, *, workspace, name, user, **_):
        target = _workspace(workspace)
        group, member = _group(target, name), _user(user)
        removed = services.group_remove_member(group=group, actor=None, user=member)
        self.stdout.write(
            f"Removed {member.email} from {group.name}"
            if removed
            else f"{member.email} was not in {group.name}"
        )

    def handle_list(self, *, workspace, json, **_):
        target = _workspace(workspace)
        groups = [row.group for row in selectors.group_list(workspace=target)]
        if json:
            self.print_json([group_json(group) for group in groups])
            return
        for row in selectors.group_list(workspace=target):
            kind = " (built-in)" if row.group.is_builtin else ""
            self.stdout.write(f"{row.group.pk:>6}  {row.group.name:<30} {row.member_count:>6} members{kind}")

    def handle_delete(self, *, workspace, name, **_):
        target = _workspace(workspace)
        group = _group(target, name)
        services.group_delete(group=group, actor=None)
        self.stdout.write(f"Deleted group {group.name} from {target.slug}")
