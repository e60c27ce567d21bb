"""A workspace's ClearML server, for operators: `manage.py portal_upstream link|unlink|status`.

portal_upstream link --workspace SLUG --url URL --token-secret-file F --system-access-key K
                     --system-secret-key-file F
portal_upstream unlink --workspace SLUG
portal_upstream status [--workspace SLUG] [--json]
portal_upstream users --workspace SLUG [--json]
portal_upstream map --workspace SLUG --email EMAIL --upstream-user ID [--replace]

`status` asks each server now and prints, per linked workspace (--json: one object, or a list
without --workspace): {"workspace", "url", "reachable", "server_version", "api_version",
"company", "users_mapped", "last_error"}. Secrets are read from files, never from the command
line (it would show in `ps` and the shell's history).

`users` lists the server's users and the portal user each is mapped to; `map` maps a member to
the server's existing user (who used the server before the portal fronted it keeps their work).
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from gateway import services
from gateway.models import UpstreamLink
from settings_portal.commands import SubcommandCommand
from workspaces.models import Workspace

STATUS_KEYS = (
    "workspace",
    "url",
    "reachable",
    "server_version",
    "api_version",
    "company",
    "users_mapped",
    "last_error",
)


def workspace_by_slug(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with the slug {slug!r}")
    return workspace


def read_secret(path: str, what: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError) as exc:
        raise CommandError(f"Cannot read the {what} from {path}: {exc}") from None
    if not value:
        raise CommandError(f"The {what} file {path} is empty")
    return value


class Command(SubcommandCommand):
    help = "Link a workspace to its ClearML server (apiserver), unlink it, or show the links' status."

    def add_subcommands(self, subparsers) -> None:
        link = subparsers.add_parser("link", help="Link a workspace to a ClearML apiserver.")
        link.add_argument("--workspace", required=True, help="The workspace's slug.")
        link.add_argument("--url", required=True, help="The apiserver's address, e.g. http://apiserver:8008")
        link.add_argument("--token-secret-file", required=True, help="File holding secure.auth.token_secret.")
        link.add_argument("--system-access-key", required=True, help="The system credential's access key.")
        link.add_argument("--system-secret-key-file", required=True, help="File holding its secret key.")

        unlink = subparsers.add_parser("unlink", help="Stop forwarding a workspace's calls.")
        unlink.add_argument("--workspace", required=True, help="The workspace's slug.")

        status = subparsers.add_parser("status", help="Check the linked servers now.")
        status.add_argument("--workspace", help="Only this workspace (slug).")
        status.add_argument("--json", action="store_true")

        users = subparsers.add_parser("users", help="List the server's users and who they are mapped to.")
        users.add_argument("--workspace", required=True, help="The workspace's slug.")
        users.add_argument("--json", action="store_true")

        mapping = subparsers.add_parser("map", help="Map a member to the server's existing user.")
        mapping.add_argument("--workspace", required=True, help="The workspace's slug.")
        mapping.add_argument("--email", required=True, help="The member's email.")
        mapping.add_argument("--upstream-user", required=True, help="The ClearML server's user id.")
        mapping.add_argument(
            "--replace", action="store_true", help="Move a member who is already mapped to another user."
        )

    def handle_link(
        self, *, workspace, url, token_secret_file, system_access_key, system_secret_key_file, **_
    ):
        target = workspace_by_slug(workspace)
        link = services.link_create(
            workspace=target,
            url=url,
            token_secret=read_secret(token_secret_file, "token secret"),
            system_access_key=system_access_key.strip(),
            system_secret_key=read_secret(system_secret_key_file, "system secret key"),
        )
        self.stdout.write(
            f"Linked {target.slug} to {link.url} (company {link.company_name or link.company_id}, "
            f"server {link.server_version or 'unknown'}, API {link.api_version or 'unknown'})"
        )

    def handle_unlink(self, *, workspace, **_):
        target = workspace_by_slug(workspace)
        if not services.link_remove(workspace=target):
            raise CommandError(f"{target.slug} is not linked to a ClearML server")
        self.stdout.write(f"Unlinked {target.slug}: its ClearML calls are no longer forwarded")

    def handle_status(self, *, workspace, json, **_):
        if workspace:
            rows = [_status(services.link_status(workspace_by_slug(workspace), check=True))]
        else:
            links = (
                UpstreamLink.objects.dangerously_all().select_related("workspace").order_by("workspace__slug")
            )
            rows = [_status(services.link_status(link.workspace, check=True)) for link in links]
        if json:
            self.print_json(rows[0] if workspace else rows)
            return
        if not rows:
            self.stdout.write("No workspace is linked to a ClearML server (standalone).")
        for row in rows:
            if row["url"] is None:
                self.stdout.write(f"{row['workspace']}: standalone (not linked to a ClearML server)")
                continue
            state = "reachable" if row["reachable"] else f"NOT reachable: {row['last_error']}"
            company = row["company"] or {}
            self.stdout.write(
                f"{row['workspace']}: {row['url']} {state}; server {row['server_version'] or '?'}, "
                f"API {row['api_version'] or '?'}, company {company.get('name') or company.get('id') or '?'}, "
                f"{row['users_mapped']} users mapped"
            )

    def handle_users(self, *, workspace, json, **_):
        target = workspace_by_slug(workspace)
        try:
            rows = services.upstream_user_list(workspace=target)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except (services.UpstreamUnavailable, services.ProvisioningFailed) as exc:
            raise CommandError(f"Cannot list the users of {target.slug}'s ClearML server: {exc}") from None
        if json:
            self.print_json(rows)
            return
        for row in rows:
            self.stdout.write(f"{row['id']}  {row['name']}  -> {row['mapped_to'] or '(not mapped)'}")

    def handle_map(self, *, workspace, email, upstream_user, replace, **_):
        target = workspace_by_slug(workspace)
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email {email!r}")
        try:
            services.user_map(workspace=target, user=user, upstream_id=upstream_user, replace=replace)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except (services.UpstreamUnavailable, services.ProvisioningFailed) as exc:
            raise CommandError(f"Cannot reach {target.slug}'s ClearML server: {exc}") from None
        self.stdout.write(f"Mapped {user.email} to the ClearML user {upstream_user.strip()} in {target.slug}")


def _status(status: dict) -> dict:
    return {key: status[key] for key in STATUS_KEYS}
