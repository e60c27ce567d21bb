"""ClearML credentials, for operators and scripts: `manage.py portal_credentials create|list|revoke`.

    portal_credentials create --user EMAIL [--workspace SLUG] [--label L] [--json]
    portal_credentials list --user EMAIL [--all] [--json]
    portal_credentials revoke --access-key KEY

`create --json` prints {"access_key", "secret_key", "label", "api_server",
"web_server", "files_server"}: the secret is shown this once. The default workspace
is the user's personal one. Changes are audited with the actor "system".
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError

from accounts.models import User
from settings_portal.commands import SubcommandCommand
from workspaces.credentials import configuration_text, credential_create, credential_revoke, files_server_url
from workspaces.models import Credential, Workspace
from workspaces.selectors import personal_workspace_get


def _user(email: str) -> User:
    user = User.objects.filter(email__iexact=(email or "").strip()).first()
    if user is None:
        raise CommandError(f"No user with the email {email!r}.")
    return user


def credential_json(credential: Credential) -> dict:
    return {
        "access_key": credential.access_key,
        "label": credential.label,
        "workspace": credential.workspace.slug,
        "user": credential.user.email,
        "created": credential.created_at.isoformat(),
        "last_used": credential.last_used_at.isoformat() if credential.last_used_at else None,
        "last_used_from": credential.last_used_from or None,
        "revoked": credential.revoked_at.isoformat() if credential.revoked_at else None,
    }


class Command(SubcommandCommand):
    help = "Create, list and revoke ClearML credentials."

    def add_subcommands(self, subparsers) -> None:
        create = subparsers.add_parser(
            "create", help="Create a key pair for a user (the secret is shown once)."
        )
        create.add_argument("--user", required=True, metavar="EMAIL")
        create.add_argument("--workspace", metavar="SLUG", help="Default: the user's personal workspace.")
        create.add_argument("--label", default="")
        create.add_argument("--json", action="store_true")

        listing = subparsers.add_parser("list", help="List a user's credentials (never the secrets).")
        listing.add_argument("--user", required=True, metavar="EMAIL")
        listing.add_argument("--all", action="store_true", help="Include revoked credentials.")
        listing.add_argument("--json", action="store_true")

        revoke = subparsers.add_parser("revoke", help="Revoke a key pair; its tokens stop working at once.")
        revoke.add_argument("--access-key", required=True, metavar="KEY")

    def handle_create(self, *, user, workspace, label, json, **_):
        owner = _user(user)
        if workspace:
            target = Workspace.objects.filter(slug=workspace).first()
            if target is None:
                raise CommandError(f"No workspace with the slug {workspace!r}.")
        else:
            target = personal_workspace_get(user=owner)
            if target is None:
                raise CommandError(f"{owner.email} has no personal workspace; pass --workspace.")
        try:
            credential, secret = credential_create(workspace=target, actor=None, user=owner, label=label)
        except PermissionDenied as exc:
            raise CommandError(f"{owner.email} is not a member of {target.slug}: {exc}") from None
        if json:
            self.print_json(
                {
                    "access_key": credential.access_key,
                    "secret_key": secret,
                    "label": credential.label,
                    "api_server": settings.PORTAL_API_URL,
                    "web_server": f"{settings.PORTAL_BASE_URL}/",
                    "files_server": files_server_url(),
                }
            )
        else:
            self.stdout.write(
                f"Created credentials for {owner.email} in {target.slug}. Add this to clearml.conf"
            )
            self.stdout.write("(or paste it into clearml-init); the secret is not shown again:\n")
            self.stdout.write(configuration_text(credential=credential, secret=secret))

    def handle_list(self, *, user, all, json, **_):
        owner = _user(user)
        credentials = (
            Credential.objects.dangerously_all().filter(user=owner).select_related("workspace", "user")
        )
        if not all:
            credentials = credentials.active()
        rows = [credential_json(credential) for credential in credentials.order_by("created_at", "id")]
        if json:
            self.print_json(rows)
            return
        if not rows:
            self.stdout.write(f"{owner.email} has no credentials.")
        for row in rows:
            state = (
                f"revoked {row['revoked']}" if row["revoked"] else f"last used {row['last_used'] or 'never'}"
            )
            self.stdout.write(f"{row['access_key']}  {row['workspace']:<24} {row['label']:<24} {state}")

    def handle_revoke(self, *, access_key, **_):
        credential = (
            Credential.objects.dangerously_all()
            .select_related("workspace", "user")
            .filter(access_key=access_key)
            .first()
        )
        if credential is None:
            raise CommandError(f"No credentials with the access key {access_key!r}.")
        if credential.is_revoked:
            self.stdout.write(f"{access_key} was already revoked.")
            return
        credential_revoke(credential=credential, actor=None, check=False)
        self.stdout.write(f"Revoked {access_key} ({credential.user.email} in {credential.workspace.slug}).")
