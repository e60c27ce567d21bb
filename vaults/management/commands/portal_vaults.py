"""Vaults, for operators: `manage.py portal_vaults set|list|export`.

    portal_vaults set --workspace SLUG (--user EMAIL | --group NAME) --format hocon|json|yaml --file PATH
                      [--name NAME] [--enable | --disable]
    portal_vaults list --workspace SLUG [--json]
    portal_vaults export --workspace SLUG --id ID

`set --user` replaces the member's own vault; `set --group` updates the group vault
of that name (default: the file's name) or creates it. A new vault is disabled
unless --enable is given; an existing one keeps its state unless told. Changes are
audit-logged with the system as the actor.
"""

import sys
import uuid
from pathlib import Path

from django.core.management.base import CommandError

from access.models import UserGroup
from accounts.models import User
from settings_portal.commands import SubcommandCommand
from vaults import selectors, services
from vaults.models import Vault, VaultFormat, VaultScope
from workspaces.models import Workspace


def _workspace(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with slug {slug!r}")
    return workspace


def vault_json(vault: Vault) -> dict:
    return {
        "id": vault.pk.hex,
        "scope": vault.scope,
        "name": vault.name,
        "user": vault.user.email if vault.user_id else None,
        "group": vault.group.name if vault.group_id else None,
        "format": vault.format,
        "enabled": vault.enabled,
        "keys": vault.key_count,
        "summary": vault.summary,
        "updated_at": vault.updated_at.isoformat(),
    }


class Command(SubcommandCommand):
    help = "Set, list and export configuration vaults."

    def add_subcommands(self, subparsers) -> None:
        setter = subparsers.add_parser("set", help="Set a member's vault or a group vault from a file.")
        setter.add_argument("--workspace", required=True, metavar="SLUG")
        owner = setter.add_mutually_exclusive_group(required=True)
        owner.add_argument("--user", metavar="EMAIL", help="The member whose own vault is set.")
        owner.add_argument(
            "--group", metavar="NAME", help="The user group an administrator vault applies to."
        )
        setter.add_argument("--format", required=True, choices=VaultFormat.values)
        setter.add_argument(
            "--file", required=True, metavar="PATH", help="The vault text ('-' for standard input)."
        )
        setter.add_argument("--name", help="Group vault name (default: the file's name).")
        state = setter.add_mutually_exclusive_group()
        state.add_argument("--enable", dest="enabled", action="store_const", const=True)
        state.add_argument("--disable", dest="enabled", action="store_const", const=False)
        setter.add_argument("--json", action="store_true")

        listing = subparsers.add_parser("list", help="List the vaults of a workspace.")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--json", action="store_true")

        export = subparsers.add_parser("export", help="Print a vault's text as written, in its format.")
        export.add_argument("--workspace", required=True, metavar="SLUG")
        export.add_argument("--id", required=True, metavar="ID")

    def _read(self, path: str) -> str:
        limit = services.max_content_bytes()
        try:
            if path == "-":
                raw = sys.stdin.buffer.read(limit + 1)
            else:
                with open(path, "rb") as file:  # also pipes such as <(...)
                    raw = file.read(limit + 1)
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        if len(raw) > limit:
            raise CommandError(f"{path} is larger than {limit // 1024} KiB, the limit of a vault.")
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None

    def handle_set(self, *, workspace, user, group, format, file, name, enabled, json, **_):
        ws = _workspace(workspace)
        content = self._read(file)
        if user:
            member = User.objects.filter(email__iexact=user.strip(), memberships__workspace=ws).first()
            if member is None:
                raise CommandError(f"{user} is not a member of {ws.slug}")
            vault = services.user_vault_save(
                workspace=ws, user=member, actor=None, fmt=format, content=content
            )
            if enabled is not None:
                vault = services.vault_set_enabled(vault=vault, actor=None, enabled=enabled)
        else:
            target = UserGroup.objects.for_workspace(ws).filter(name__iexact=group.strip()).first()
            if target is None:
                raise CommandError(f"No user group {group!r} in {ws.slug}")
            vault_name = (name or Path(file).stem or "vault") if file != "-" else (name or "vault")
            existing = (
                Vault.objects.for_workspace(ws)
                .group_vaults()
                .filter(name__iexact=" ".join(vault_name.split()))
                .first()
            )
            if existing is None:
                vault = services.group_vault_create(
                    workspace=ws,
                    actor=None,
                    name=vault_name,
                    group=target,
                    fmt=format,
                    content=content,
                    enabled=bool(enabled),
                )
            else:
                vault = services.group_vault_update(
                    vault=existing, actor=None, name=vault_name, group=target, fmt=format, content=content
                )
                if enabled is not None:
                    vault = services.vault_set_enabled(vault=vault, actor=None, enabled=enabled)
        if json:
            self.print_json(vault_json(vault))
        else:
            state = "enabled" if vault.enabled else "disabled"
            self.stdout.write(
                f"Saved {vault} ({vault.format}, {vault.key_count} keys, {state}), id {vault.pk.hex}"
            )

    def handle_list(self, *, workspace, json, **_):
        ws = _workspace(workspace)
        vaults = selectors.group_vault_list(workspace=ws) + sorted(
            Vault.objects.for_workspace(ws).user_vaults().select_related("user"), key=lambda v: v.user.email
        )
        if json:
            self.print_json([vault_json(vault) for vault in vaults])
            return
        for vault in vaults:
            owner = (
                f"group:{vault.group.name}"
                if vault.scope == VaultScope.GROUP and vault.group_id
                else ("group:-" if vault.scope == VaultScope.GROUP else f"user:{vault.user.email}")
            )
            state = "on " if vault.enabled else "off"
            self.stdout.write(f"{vault.pk.hex}  {state}  {vault.format:<5}  {owner:<32}  {vault.name}")

    def handle_export(self, *, workspace, id, **_):
        ws = _workspace(workspace)
        try:
            pk = uuid.UUID(id)
        except ValueError:
            raise CommandError(f"Not a vault id: {id!r}") from None
        vault = Vault.objects.for_workspace(ws).filter(pk=pk).first()
        if vault is None:
            raise CommandError(f"No vault {id} in {ws.slug}")
        self.stdout.write(vault.content, ending="" if vault.content.endswith("\n") else "\n")
