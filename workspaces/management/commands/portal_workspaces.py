"""Workspaces, for operators: `manage.py portal_workspaces create|rename|set-limit|list`.

portal_workspaces create --owner EMAIL --name NAME [--json]
portal_workspaces rename --workspace SLUG --name NAME
portal_workspaces set-limit --workspace SLUG --max-members N|none [--json]
portal_workspaces list [--json]
"""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db.models import Count

from accounts.models import User
from settings_portal.commands import SubcommandCommand
from workspaces.models import Workspace
from workspaces.selectors import seat_count
from workspaces.services import workspace_create, workspace_rename, workspace_set_member_limit


def workspace_json(workspace: Workspace, members: int | None = None) -> dict:
    return {
        "id": workspace.id.hex,
        "slug": workspace.slug,
        "name": workspace.name,
        "personal": workspace.is_personal,
        "owner": workspace.owner.email,
        "members": members,
        "max_members": workspace.max_members,
        "created_at": workspace.created_at.isoformat(),
    }


def member_limit(value: str) -> int | None:
    """--max-members: a whole number, or "none" (also "unlimited") to clear the limit."""
    text = value.strip().lower()
    if text in ("none", "unlimited"):
        return None
    try:
        return int(text)
    except ValueError:
        raise CommandError(f"--max-members takes a whole number or 'none', not {value!r}") from None


def workspace_by_slug(slug: str) -> Workspace:
    workspace = Workspace.objects.select_related("owner").filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with the slug {slug!r}")
    return workspace


class Command(SubcommandCommand):
    help = "Create, rename and list workspaces."

    def add_subcommands(self, subparsers) -> None:
        create = subparsers.add_parser("create", help="Create a shared workspace owned by a user.")
        create.add_argument("--owner", required=True, help="The owner's email.")
        create.add_argument("--name", required=True)
        create.add_argument("--json", action="store_true")

        rename = subparsers.add_parser("rename", help="Rename a workspace.")
        rename.add_argument("--workspace", required=True, help="The workspace's slug.")
        rename.add_argument("--name", required=True)
        rename.add_argument("--json", action="store_true")

        limit = subparsers.add_parser(
            "set-limit", help="Set a workspace's member limit (Users & Groups shows 'N of M' members)."
        )
        limit.add_argument("--workspace", required=True, help="The workspace's slug.")
        limit.add_argument(
            "--max-members",
            required=True,
            help="The most seats (members, service accounts and pending invitations); 'none' removes the limit.",
        )
        limit.add_argument("--json", action="store_true")

        listing = subparsers.add_parser("list", help="List every workspace.")
        listing.add_argument("--json", action="store_true")

    def handle_create(self, *, owner, name, json, **_):
        user = User.objects.filter(email__iexact=owner.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email {owner!r}")
        workspace = workspace_create(owner=user, name=name)
        if json:
            self.print_json(workspace_json(workspace, members=1))
        else:
            self.stdout.write(
                f"Created workspace {workspace.name!r} (slug {workspace.slug}) owned by {user.email}"
            )

    def handle_rename(self, *, workspace, name, json, **_):
        target = workspace_by_slug(workspace)
        target = workspace_rename(workspace=target, actor=None, name=name)
        if json:
            self.print_json(workspace_json(target))
        else:
            self.stdout.write(f"Renamed workspace {target.slug} to {target.name!r}")

    def handle_set_limit(self, *, workspace, max_members, json, **_):
        limit = member_limit(max_members)
        target = workspace_by_slug(workspace)
        try:
            target = workspace_set_member_limit(workspace=target, actor=None, max_members=limit)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        used = seat_count(workspace=target)
        if json:
            self.print_json(workspace_json(target, members=used))
        elif limit is None:
            self.stdout.write(f"Workspace {target.slug} has no member limit now ({used} seats in use)")
        else:
            self.stdout.write(
                f"Workspace {target.slug}: member limit {limit} ({used} of {limit} seats in use)"
            )

    def handle_list(self, *, json, **_):
        workspaces = (
            Workspace.objects.select_related("owner")
            .annotate(member_count=Count("memberships"))
            .order_by("slug")
        )
        if json:
            self.print_json(
                [workspace_json(workspace, members=workspace.member_count) for workspace in workspaces]
            )
            return
        for workspace in workspaces:
            kind = "personal" if workspace.is_personal else "shared"
            self.stdout.write(
                f"{workspace.slug:<32} {workspace.name:<32} {kind:<8} {workspace.member_count:>4} members  "
                f"owner {workspace.owner.email}"
            )
