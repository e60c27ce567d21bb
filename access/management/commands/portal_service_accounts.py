"""Service accounts, for operators and scripts: `manage.py portal_service_accounts create|list|delete`.

    portal_service_accounts create --workspace SLUG --name NAME [--impersonation] [--label L] [--json]
    portal_service_accounts list --workspace SLUG [--json]
    portal_service_accounts delete --workspace SLUG --name NAME

`create --json` prints {"id", "name", "workspace", "allow_impersonation", "access_key",
"secret_key", "configuration"}: the secret is shown this once. Deleting revokes every
credential of the account (agents using them fail at once). Changes are audited with
the actor "system".
"""

from django.core.management.base import CommandError

from access import selectors, services
from access.models import ServiceAccount
from settings_portal.commands import SubcommandCommand
from workspaces.credentials import configuration_text
from workspaces.models import Workspace


def _workspace(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with the slug {slug!r}.")
    return workspace


def account_json(account) -> dict:
    return {
        "id": account.user_id.hex,
        "name": account.name,
        "workspace": account.workspace.slug,
        "allow_impersonation": account.allow_impersonation,
        "email": account.user.email,
        "groups": selectors.row_groups(
            role=getattr(account, "role", None), names=getattr(account, "group_names", [])
        ),
        "credentials": getattr(account, "credential_count", None),
        "last_active": account.last_active.isoformat() if getattr(account, "last_active", None) else None,
        "created": account.created_at.isoformat(),
    }


class Command(SubcommandCommand):
    help = "Create, list and delete the service accounts of a workspace."

    def add_subcommands(self, subparsers) -> None:
        create = subparsers.add_parser("create", help="Create a service account and its first credentials.")
        create.add_argument("--workspace", required=True, metavar="SLUG")
        create.add_argument("--name", required=True)
        create.add_argument(
            "--impersonation",
            action="store_true",
            help="Allow impersonation (clearml-agent --use-owner-token).",
        )
        create.add_argument("--label", default="", help="Label of the first credentials.")
        create.add_argument("--json", action="store_true")

        listing = subparsers.add_parser("list", help="List the service accounts.")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--json", action="store_true")

        delete = subparsers.add_parser("delete", help="Delete a service account and revoke its credentials.")
        delete.add_argument("--workspace", required=True, metavar="SLUG")
        delete.add_argument("--name", required=True)

    def handle_create(self, *, workspace, name, impersonation, label, json, **_):
        target = _workspace(workspace)
        account, credential, secret = services.service_account_create(
            workspace=target, actor=None, name=name, allow_impersonation=impersonation, label=label
        )
        configuration = configuration_text(credential=credential, secret=secret)
        if json:
            self.print_json(
                {
                    **account_json(account),
                    "access_key": credential.access_key,
                    "secret_key": secret,
                    "configuration": configuration,
                }
            )
        else:
            self.stdout.write(f"Created service account {account.name}, user id {account.user_id.hex}")
            self.stdout.write("Its credentials (the secret is shown only now):")
            self.stdout.write(configuration)

    def handle_list(self, *, workspace, json, **_):
        target = _workspace(workspace)
        accounts = list(selectors.service_account_list(workspace=target))
        names = selectors.group_names_by_user(workspace=target, user_ids=[a.user_id for a in accounts])
        for account in accounts:
            account.group_names = names.get(account.user_id, [])
        if json:
            self.print_json([account_json(account) for account in accounts])
            return
        for account in accounts:
            flags = " impersonation" if account.allow_impersonation else ""
            self.stdout.write(
                f"{account.user_id.hex}  {account.name:<30} {account.credential_count} credentials{flags}"
            )

    def handle_delete(self, *, workspace, name, **_):
        target = _workspace(workspace)
        account = ServiceAccount.objects.for_workspace(target).filter(name__iexact=name.strip()).first()
        if account is None:
            raise CommandError(f"No service account named {name!r} in {target.slug}.")
        revoked = services.service_account_delete(account=account, actor=None)
        self.stdout.write(f"Deleted service account {account.name}; {revoked} credential(s) revoked")
