"""Reads of vaults: the administrator table, a member's vault, and what applies to a member.

Precedence (the order `users.get_vaults` lists vaults in; the clients merge them in
list order, so a later vault overrides an earlier one, key by key):

1. the administrator vaults of the groups the member belongs to, ordered by group:
   the built-in `Users` group (everyone) first, then the other groups by name
   (case-insensitive); within a group, the oldest vault first;
2. the member's own vault, last: the most specific scope wins.

The administrator table lists the vaults in the same order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from access.models import BuiltinGroup
from access.selectors import user_group_ids
from accounts.models import DEFAULT_HIDDEN_CONTAINER_ARGS
from workspaces.models import Membership, Workspace

from . import masking, parsing
from .models import Vault, VaultScope


def precedence_key(vault: Vault) -> tuple:
    group = vault.group
    if vault.scope == VaultScope.USER:
        return (2, "", 0, vault.created_at, str(vault.pk))
    if group is None:  # its group was deleted: applies to nobody, listed last
        return (1, "\uffff", 0, vault.created_at, str(vault.pk))
    return (
        0,
        "" if group.builtin == BuiltinGroup.USERS else "\x01" + group.name.lower(),
        group.pk,
        vault.created_at,
        str(vault.pk),
    )


def group_vault_list(*, workspace: Workspace) -> list[Vault]:
    """The administrator vaults of WORKSPACE in precedence order (one query)."""
    vaults = (
        Vault.objects.for_workspace(workspace)
        .group_vaults()
        .select_related("group", "updated_by")
        .defer("content", "data")
    )
    return sorted(vaults, key=precedence_key)


def vault_get(*, workspace: Workspace, pk) -> Vault:
    """An administrator vault of WORKSPACE, or Vault.DoesNotExist."""
    return Vault.objects.for_workspace(workspace).group_vaults().select_related("group").get(pk=pk)


def user_vault_get(*, workspace: Workspace, user) -> Vault | None:
    return Vault.objects.for_workspace(workspace).user_vaults().filter(user=user).first()


def vaults_for_user(
    *, workspace: Workspace, user, enabled: bool | None = True, membership=None
) -> list[Vault]:
    """The vaults that apply to USER in WORKSPACE, in precedence order (see the module docstring).

    ENABLED: True for the enabled ones only (what the clients get), False for the
    disabled ones, None for both. A non-member gets nothing. MEMBERSHIP: as the caller sees
    it (an impersonated token's role is capped at member: no `Admins` group vault).
    """
    group_ids = user_group_ids(workspace=workspace, user=user, membership=membership)
    if not group_ids:
        return []
    vaults = (
        Vault.objects.for_workspace(workspace)
        .filter(Q(scope=VaultScope.GROUP, group_id__in=group_ids) | Q(scope=VaultScope.USER, user=user))
        .select_related("group")
    )
    if enabled is not None:
        vaults = vaults.filter(enabled=enabled)
    return sorted(vaults, key=precedence_key)


def vault_description(vault: Vault) -> str:
    if vault.scope == VaultScope.USER:
        return "Personal configuration vault"
    return vault.name


def api_vault(vault: Vault) -> dict[str, Any]:
    """One entry of `users.get_vaults`. `format` is the format of `data` (YAML is served as JSON)."""
    served_format = "hocon" if vault.format == "hocon" else "json"
    return {
        "id": vault.pk.hex,
        "scope": vault.scope,
        "type": "config",
        "format": served_format,
        "enabled": vault.enabled,
        "description": vault_description(vault),
        "data": vault.data,
    }


# -- the effective configuration ---------------------------------------------------------


# What one effective-configuration page parses at most: the sum of the served texts of the
# vaults that apply (each vault is bounded on its own; this bounds a member of many groups).
def effective_max_bytes() -> int:
    return 8 * parsing.max_content_bytes()


@dataclass
class EffectiveEntry:
    path: str
    value: str
    source: Vault
    overridden: list[Vault] = field(default_factory=list)
    hidden: bool = False


@dataclass
class EffectiveConfiguration:
    vaults: list[Vault]
    entries: list[EffectiveEntry]
    broken: list[Vault]
    problems: dict[Any, str] = field(default_factory=dict)  # vault pk -> why it can't be read
    too_much: bool = False  # the vaults together hold more than one page parses


def hidden_names(*users) -> set[str]:
    """The union of the hidden container arguments of USERS (their defaults when unset)."""
    names: set[str] = set()
    for user in users:
        prefs = getattr(user, "preferences", None)
        names.update(prefs.hidden_container_args if prefs is not None else DEFAULT_HIDDEN_CONTAINER_ARGS)
    return names


def stored_vault_tree(vault: Vault) -> dict[str, Any]:
    """VAULT's served data as the clients read it, within the parsing budget; raises ValidationError."""
    return parsing.stored_tree(vault.format, vault.data or "")


def effective_configuration(*, workspace: Workspace, user, viewer) -> EffectiveConfiguration:
    """What the enabled vaults make of USER's configuration, key by key, with the vault that set it.

    Values are masked for VIEWER by vaults.masking (the rule the vault box follows too):
    secret-looking keys and the hidden container arguments (of both USER and VIEWER)
    always; and when VIEWER is not USER, every value from USER's own vault (an
    administrator sees the keys, not the member's values). Each vault is read within
    the parsing budget (one saved before a check existed included), and the page reads
    at most `effective_max_bytes()` of vault text in all.
    """
    vaults = vaults_for_user(workspace=workspace, user=user, enabled=True)
    hidden = hidden_names(user, viewer)
    merged: dict[str, EffectiveEntry] = {}
    below: dict[str, int] = {}  # path -> how many merged leaves lie under it

    def prefixes(path: str):
        parts = path.split(".")
        return (".".join(parts[:i]) for i in range(1, len(parts)))

    def drop(path: str) -> None:
        merged.pop(path)
        for prefix in prefixes(path):
            below[prefix] -= 1

    broken, problems = [], {}
    total = sum(len(vault.data or "") for vault in vaults)
    if total > effective_max_bytes():
        return EffectiveConfiguration(vaults=vaults, entries=[], broken=[], too_much=True)
    for vault in vaults:
        if not vault.data:
            continue
        try:
            tree = stored_vault_tree(vault)
        except ValidationError as exc:
            broken.append(vault)
            problems[vault.pk] = exc.messages[0]
            continue
        hide_all = vault.scope == VaultScope.USER and viewer.pk != user.pk
        for leaf in masking.shown_leaves(tree, hidden=hidden, hide_all=hide_all):
            path, value = leaf.path, leaf.value
            # The clients merge vaults as HOCON does: objects merge key by key; any other
            # value replaces what was there, a whole object included.
            has_below = below.get(path, 0) > 0
            if value == {} and not leaf.masked and has_below:
                continue
            for prefix in prefixes(path):
                if prefix in merged:
                    drop(prefix)
            if has_below:
                for other in [p for p in merged if p.startswith(path + ".")]:
                    drop(other)
            entry = merged.get(path)
            overridden = [*entry.overridden, entry.source] if entry else []
            if entry is None:
                for prefix in prefixes(path):
                    below[prefix] = below.get(prefix, 0) + 1
            merged[path] = EffectiveEntry(
                path=path, value=leaf.text, source=vault, overridden=overridden, hidden=leaf.masked
            )
    entries = sorted(merged.values(), key=lambda entry: entry.path)
    return EffectiveConfiguration(vaults=vaults, entries=entries, broken=broken, problems=problems)


# -- the vault box -------------------------------------------------------------------------

PREVIEW_LINES = 200


@dataclass
class VaultPreview:
    lines: list[str]  # the settings as HOCON lines, secrets masked (vaults.masking)
    more: int = 0  # settings not shown (the box shows the first PREVIEW_LINES)
    problem: str = ""  # why the stored vault can't be shown


def vault_preview(vault: Vault | None, *, viewer) -> VaultPreview:
    """VAULT's settings as its box shows them to VIEWER (its owner): masked like the effective configuration."""
    if vault is None or not vault.data:
        return VaultPreview(lines=[])
    try:
        tree = stored_vault_tree(vault)
    except ValidationError as exc:
        return VaultPreview(lines=[], problem=exc.messages[0])
    hide_all = vault.scope == VaultScope.USER and vault.user_id != viewer.pk
    leaves = masking.shown_leaves(tree, hidden=hidden_names(viewer), hide_all=hide_all)
    lines = [masking.hocon_line(leaf) for leaf in leaves[:PREVIEW_LINES]]
    return VaultPreview(lines=lines, more=max(len(leaves) - PREVIEW_LINES, 0))


def member_user_get(*, workspace: Workspace, user_id: str):
    """The member of WORKSPACE with that user id (hex or dashed), else None."""
    try:
        pk = uuid.UUID(user_id)
    except ValueError:
        return None
    membership = Membership.objects.for_workspace(workspace).select_related("user").filter(user_id=pk).first()
    return membership.user if membership else None


def member_list(*, workspace: Workspace):
    """Members of WORKSPACE for the effective-configuration picker (admins)."""
    return (
        Membership.objects.for_workspace(workspace)
        .select_related("user")
        .order_by("user__username")
        .values_list("user_id", "user__username", "user__email")
    )
