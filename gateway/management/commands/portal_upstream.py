"""A workspace's ClearML server, for operators: `manage.py portal_upstream link|unlink|status`.

portal_upstream link --workspace SLUG --url URL --token-secret-file F --system-access-key K
                     --system-secret-key-file F
portal_upstream unlink --workspace SLUG
portal_upstream status [--workspace SLUG] [--json]

`status` asks each server now and prints, per linked workspace (--json: one object, or a list
without --workspace): {"workspace", "url", "reachable", "server_version", "api_version",
"company", "users_mapped", "last_error"}. Secrets are read from files, never from the command
line (it would show in `ps` and the shell's history).
"""

from pathlib import Path

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


def _status(status: dict) -> dict:
    return {key: status[key] for key in STATUS_KEYS}
