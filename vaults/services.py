"""Writes to vaults. Every change is parsed and checked first, then saved and audit-logged.

The audit log records which key paths a change added, removed or changed, never a value.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.models import UserGroup
from settings_portal.names import name_digest
from workspaces.audit import audit_log
from workspaces.models import Workspace
from workspaces.selectors import is_member

from . import parsing
from .models import Vault, VaultFormat, VaultScope

MAX_NAME_LENGTH = 100
MAX_GROUP_VAULTS = 100
SUMMARY_KEYS = 3


def max_content_bytes() -> int:
    return parsing.max_content_bytes()


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size} bytes"


def check_size(content: str, *, field: str | None = "content") -> None:
    size = len(content.encode("utf-8"))
    limit = max_content_bytes()
    if size > limit:
        message = f"The vault text is {_kib(size)}; a vault holds at most {_kib(limit)}."
        raise ValidationError({field: message} if field else message, code="too_large")


def clean_content(content: str | None) -> str:
    """Line ends made \\n; NUL refused (PostgreSQL text can't hold it, and it means a binary file)."""
    content = (content or "").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in content:
        raise ValidationError("The text holds a NUL character: is this a binary file?", code="binary")
    return parsing.checked_text(content)


def parse_content(*, fmt: str, content: str | None) -> tuple[str, parsing.ParsedVault]:
    """CONTENT cleaned and checked (size, syntax, forbidden keys); errors keyed on the `content` field."""
    if fmt not in VaultFormat.values:
        raise ValidationError({"format": "Choose HOCON, JSON or YAML."})
    try:
        content = clean_content(content)
        check_size(content, field=None)
        return content, parsing.vault_parse(fmt=fmt, content=content)
    except ValidationError as exc:
        raise ValidationError({"content": exc.messages}) from None


def _old_tree(vault: Vault) -> dict[str, Any]:
    try:
        return parsing.parse_tree(vault.format, vault.content)
    except ValidationError:
        return {}


def _store(vault: Vault, *, fmt: str, content: str, parsed: parsing.ParsedVault, actor) -> None:
    keys, _ = parsing.summary(parsed.tree, limit=SUMMARY_KEYS)
    vault.format = fmt
    vault.content = content
    vault.data = parsed.data
    vault.summary = keys
    vault.key_count = len(parsed.leaves())
    vault.updated_at = timezone.now()
    vault.updated_by = actor if getattr(actor, "pk", None) else None


def _describe(vault: Vault) -> dict[str, Any]:
    return {
        "name": vault.name,
        "group": vault.group.name if vault.group_id else None,
        "format": vault.format,
        "enabled": vault.enabled,
    }


def _label(vault: Vault) -> str:
    if vault.scope == VaultScope.USER:
        return f"vault of {vault.user.email}"
    return vault.name


def _audit_change(*, vault: Vault, actor, action: str, old: dict, new: dict, keys: dict | None) -> None:
    changed = [key for key in new if key not in old or old[key] != new[key]]
    before = {key: old[key] for key in changed if key in old}
    after = {key: new[key] for key in changed}
    if keys and any(keys.values()):
        after["keys"] = {kind: paths for kind, paths in keys.items() if paths}
    audit_log(
        actor=actor,
        action=action,
        workspace=vault.workspace,
        target=vault,
        target_label=_label(vault),
        before=before or None,
        after=after or None,
    )


def _checked(*checks) -> list:
    """Run every check and raise all their errors at once (the form shows each next to its field)."""
    results, errors = [], {}
    for check in checks:
        try:
            results.append(check())
        except ValidationError as exc:
            results.append(None)
            for field, messages in exc.update_error_dict({}).items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return results


def _check_group(*, workspace: Workspace, group: UserGroup | None) -> None:
    if group is None:
        raise ValidationError({"group": "Choose the user group this vault applies to."})
    if group.workspace_id != workspace.pk:
        raise ValidationError({"group": "Choose a user group of this workspace."})


def _clean_name(*, workspace: Workspace, name: str, exclude: Vault | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the vault a name."})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"Use at most {MAX_NAME_LENGTH} characters."})
    taken = Vault.objects.for_workspace(workspace).group_vaults().filter(name_key=name_digest(name))
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError({"name": "Another vault of this workspace has this name."})
    return name


def _save_named(vault: Vault) -> None:
    """Save an administrator vault; a concurrent save that took the name is a field error."""
    try:
        with transaction.atomic():
            vault.save()
    except IntegrityError:
        raise ValidationError({"name": "Another vault of this workspace has this name."}) from None


# -- the member's own vault ------------------------------------------------------------


def _user_vault_for_update(*, workspace: Workspace, user, actor) -> tuple[Vault, bool]:
    """USER's vault in WORKSPACE, locked; created (empty, disabled) when missing. (vault, created)."""
    actor = actor if getattr(actor, "pk", None) else None
    # get_or_create survives two first saves racing on the one-per-member constraint.
    vault, created = Vault.objects.get_or_create(
        workspace=workspace,
        scope=VaultScope.USER,
        user=user,
        defaults={"created_by": actor, "updated_by": actor},
    )
    locked = (
        Vault.objects.select_for_update(of=("self",)).select_related("workspace", "user").get(pk=vault.pk)
    )
    return locked, created


def _require_member(*, workspace: Workspace, user) -> None:
    if not is_member(workspace=workspace, user=user):
        raise ValidationError("Only a member of the workspace has a vault in it.")


@transaction.atomic
def user_vault_save(*, workspace: Workspace, user, actor, fmt: str, content: str) -> Vault:
    """Replace USER's vault text in WORKSPACE (created on first save, disabled). Raises ValidationError."""
    _require_member(workspace=workspace, user=user)
    content, parsed = parse_content(fmt=fmt, content=content)
    vault, created = _user_vault_for_update(workspace=workspace, user=user, actor=actor)
    old_tree, old = _old_tree(vault), _describe(vault)
    _store(vault, fmt=fmt, content=content, parsed=parsed, actor=actor)
    vault.save()
    _audit_change(
        vault=vault,
        actor=actor,
        action="vault.create" if created else "vault.update",
        old={} if created else old,
        new={"format": vault.format} if created else _describe(vault),
        keys=parsing.keys_diff(old_tree, parsed.tree),
    )
    return vault


@transaction.atomic
def user_vault_set_enabled(*, workspace: Workspace, user, actor, enabled: bool) -> Vault:
    """Turn USER's vault on or off (an empty vault is created if they have none yet)."""
    _require_member(workspace=workspace, user=user)
    vault, _ = _user_vault_for_update(workspace=workspace, user=user, actor=actor)
    return _set_enabled(vault=vault, actor=actor, enabled=enabled)


# -- administrator vaults ----------------------------------------------------------------


@transaction.atomic
def group_vault_create(
    *,
    workspace: Workspace,
    actor,
    name: str,
    group: UserGroup | None,
    fmt: str,
    content: str,
    enabled: bool = True,
) -> Vault:
    """An administrator vault applied to GROUP. Raises ValidationError (nothing is saved then)."""
    name, (content, parsed) = _checked(
        lambda: _check_group(workspace=workspace, group=group),
        lambda: _clean_name(workspace=workspace, name=name),
        lambda: parse_content(fmt=fmt, content=content),
    )[1:]
    if Vault.objects.for_workspace(workspace).group_vaults().count() >= MAX_GROUP_VAULTS:
        raise ValidationError(f"A workspace holds at most {MAX_GROUP_VAULTS} administrator vaults.")
    vault = Vault(
        workspace=workspace,
        scope=VaultScope.GROUP,
        group=group,
        name=name,
        enabled=bool(enabled),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    _store(vault, fmt=fmt, content=content, parsed=parsed, actor=actor)
    _save_named(vault)
    _audit_change(
        vault=vault,
        actor=actor,
        action="vault.create",
        old={},
        new=_describe(vault),
        keys=parsing.keys_diff({}, parsed.tree),
    )
    return vault


@transaction.atomic
def group_vault_update(
    *, vault: Vault, actor, name: str, group: UserGroup | None, fmt: str, content: str
) -> Vault:
    """Change an administrator vault's name, group, format and text. Raises ValidationError."""
    vault = (
        Vault.objects.select_for_update(of=("self",)).select_related("group", "workspace").get(pk=vault.pk)
    )
    if vault.scope != VaultScope.GROUP:
        raise ValidationError("Only administrator vaults are edited here.")
    name, (content, parsed) = _checked(
        lambda: _check_group(workspace=vault.workspace, group=group),
        lambda: _clean_name(workspace=vault.workspace, name=name, exclude=vault),
        lambda: parse_content(fmt=fmt, content=content),
    )[1:]
    old_tree, old = _old_tree(vault), _describe(vault)
    vault.name = name
    vault.group = group
    _store(vault, fmt=fmt, content=content, parsed=parsed, actor=actor)
    _save_named(vault)
    _audit_change(
        vault=vault,
        actor=actor,
        action="vault.update",
        old=old,
        new=_describe(vault),
        keys=parsing.keys_diff(old_tree, parsed.tree),
    )
    return vault


def _set_enabled(*, vault: Vault, actor, enabled: bool) -> Vault:
    enabled = bool(enabled)
    if vault.enabled == enabled:
        return vault
    vault.enabled = enabled
    vault.updated_at = timezone.now()
    vault.updated_by = actor if getattr(actor, "pk", None) else None
    vault.save(update_fields=["enabled", "updated_at", "updated_by"])
    audit_log(
        actor=actor,
        action="vault.enable" if enabled else "vault.disable",
        workspace=vault.workspace,
        target=vault,
        target_label=_label(vault),
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )
    return vault


@transaction.atomic
def vault_set_enabled(*, vault: Vault, actor, enabled: bool) -> Vault:
    """Enable or disable VAULT (either scope); a no-op when it already is."""
    vault = (
        Vault.objects.select_for_update(of=("self",))
        .select_related("workspace", "user", "group")
        .get(pk=vault.pk)
    )
    return _set_enabled(vault=vault, actor=actor, enabled=enabled)


@transaction.atomic
def vault_delete(*, vault: Vault, actor) -> None:
    """Delete VAULT; the audit row keeps its name and key paths."""
    tree = _old_tree(vault)
    audit_log(
        actor=actor,
        action="vault.delete",
        workspace=vault.workspace,
        target=vault,
        target_label=_label(vault),
        before={**_describe(vault), "keys": sorted(parsing.leaf_paths(tree))},
    )
    vault.delete()
