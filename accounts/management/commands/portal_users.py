"""Users, for operators: `manage.py portal_users create|list|invite`.

`create --admin` makes a site administrator; the first one is how a fresh install
is opened (there is no public sign-up).
"""

from django.core.management.base import CommandError
from django.db.models import Count

from accounts.models import User
from accounts.services import user_create
from settings_portal.commands import SubcommandCommand
from workspaces.invitations import invitation_create
from workspaces.models import Workspace
from workspaces.selectors import personal_workspace_get


def user_json(user: User) -> dict:
    workspace = personal_workspace_get(user=user)
    return {
        "id": user.id.hex,
        "email": user.email,
        "username": user.username,
        "admin": user.is_staff,
        "active": user.is_active,
        "workspace": {"id": workspace.id.hex, "slug": workspace.slug, "name": workspace.name}
        if workspace
        else None,
    }


class Command(SubcommandCommand):
    help = "Create and list users."

    def add_subcommands(self, subparsers) -> None:
        create = subparsers.add_parser("create", help="Create a user with a personal workspace.")
        create.add_argument("--email", required=True)
        create.add_argument("--password", required=True)
        create.add_argument("--username")
        create.add_argument("--admin", action="store_true", help="Make the user a site administrator.")
        create.add_argument("--workspace-name", help="Name of the user's personal workspace.")
        create.add_argument("--json", action="store_true")

        listing = subparsers.add_parser("list", help="List users.")
        listing.add_argument("--json", action="store_true")

        invite = subparsers.add_parser("invite", help="Invite an email to a workspace; prints the link.")
        invite.add_argument("--workspace", required=True, help="The workspace's slug.")
        invite.add_argument("--email", required=True)
        invite.add_argument("--json", action="store_true")

    def handle_create(self, *, email, password, username, admin, workspace_name, json, **_):
        if not password:
            raise CommandError("--password must not be empty")
        user = user_create(
            email=email, password=password, username=username, workspace_name=workspace_name, is_staff=admin
        )
        if json:
            self.print_json(user_json(user))
        else:
            self.stdout.write(f"Created user {user.email} ({user.username}), id {user.id.hex}")

    def handle_list(self, *, json, **_):
        users = User.objects.annotate(workspaces=Count("memberships")).order_by("email")
        if json:
            self.print_json([user_json(user) for user in users])
            return
        for user in users:
            flags = " admin" if user.is_staff else ""
            self.stdout.write(
                f"{user.id.hex}  {user.email:<40} {user.username:<24} {user.workspaces} workspaces{flags}"
            )

    def handle_invite(self, *, workspace, email, json, **_):
        target = Workspace.objects.filter(slug=workspace).first()
        if target is None:
            raise CommandError(f"No workspace with the slug {workspace!r}")
        issued = invitation_create(workspace=target, actor=None, email=email)
        if json:
            self.print_json(
                {
                    "email": issued.invitation.email,
                    "workspace": target.slug,
                    "url": issued.url,
                    "expires_at": issued.invitation.expires_at.isoformat(),
                    "refreshed": issued.refreshed,
                }
            )
        else:
            self.stdout.write(f"Invitation for {issued.invitation.email} to {target.name}: {issued.url}")
