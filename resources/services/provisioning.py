"""Provisioning: the saved draft (or an imported one) becomes the configuration the scheduler uses.

Atomic and under the workspace's scheduler lock; refused with ValidationError, nothing changed,
when the draft breaks a rule. Never evicts a running job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from workspaces.audit import audit_log
from workspaces.models import Workspace

from .. import draft as drafts
from ..models import Link, Pool, Profile, Queue
from ..scheduler import lock_workspace
from ..selectors import (
    configuration_get,
    configuration_warning_list,
    editor_state_get,
    policy_names_by_profile,
)
from .editor import draft_save
from .scheduling import schedule_soon, settings_get

Draft = drafts.Draft


@dataclass
class ProvisionResult:
    warnings: list[str] = field(default_factory=list)
    changed: bool = False


def draft_errors(*, workspace: Workspace, draft: Draft) -> list[str]:
    """Why DRAFT cannot be provisioned ([] when it can)."""
    errors = drafts.validate(draft)
    if errors:
        return errors
    kept = {p["key"] for p in draft["profiles"]}
    for key, policy_names in policy_names_by_profile(workspace=workspace).items():
        if key not in kept:
            name = (
                Profile.objects.for_workspace(workspace)
                .filter(pk=int(key[1:]))
                .values_list("name", flat=True)
                .first()
            )
            errors.append(
                f"The profile “{name}” cannot be deleted: the resource "
                f"{'policy' if len(policy_names) == 1 else 'policies'} {', '.join(sorted(policy_names))} "
                f"still {'uses' if len(policy_names) == 1 else 'use'} it. Remove it from "
                f"{'it' if len(policy_names) == 1 else 'them'} on the Resource Policies page first."
            )
    for kind, prefix in (("pools", "p"), ("profiles", "f"), ("links", "l")):
        for item in draft[kind]:
            key = item["key"]
            if not key.startswith("new-") and not (key.startswith(prefix) and key[1:].isdigit()):
                errors.append(f"Unknown {kind[:-1]} key {key!r}.")
    return errors


@transaction.atomic
def draft_provision(
    *, workspace: Workspace, actor, extra_edit: Callable[[Draft], Draft] | None = None
) -> ProvisionResult:
    """Provision: apply the saved draft (plus EXTRA_EDIT) atomically; the scheduler uses it from then on.

    Refused with ValidationError (nothing changed) when the editor holds unsaved changes
    or the draft breaks a rule. Never evicts a running job.
    """
    lock_workspace(workspace)
    settings = settings_get(workspace=workspace, lock=True)
    state = editor_state_get(workspace=workspace, settings=settings)
    if state.has_unsaved:
        raise ValidationError(
            "The editor has unsaved changes: Save them first (Provision applies the saved draft), "
            "or Reset Configuration to discard them."
        )
    draft = (
        settings.saved_draft if settings.saved_draft is not None else configuration_get(workspace=workspace)
    )
    if extra_edit is not None:
        draft = extra_edit(draft)
    return configuration_replace(workspace=workspace, actor=actor, draft=draft)


@transaction.atomic
def draft_save_and_provision(*, workspace: Workspace, actor) -> ProvisionResult:
    """Provision with unsaved changes, in one step: save the editor's working copy, then provision.

    Refused with ValidationError when the draft breaks a rule: then nothing changed, not even the
    save (the changes wait unsaved in the editor, as before).
    """
    lock_workspace(workspace)  # first, as draft_provision takes it: the scheduler lock, then the settings
    draft_save(workspace=workspace, actor=actor)
    return draft_provision(workspace=workspace, actor=actor)


@transaction.atomic
def configuration_replace(*, workspace: Workspace, actor, draft: Draft) -> ProvisionResult:
    """Make DRAFT the provisioned configuration (Provision, and import); editor drafts are dropped."""
    lock_workspace(workspace)
    settings = settings_get(workspace=workspace, lock=True)
    errors = draft_errors(workspace=workspace, draft=draft)
    if errors:
        raise ValidationError(errors)
    before = configuration_get(workspace=workspace)
    _apply(workspace=workspace, draft=draft)
    after = configuration_get(workspace=workspace)
    settings.saved_draft = None
    settings.working_draft = None
    settings.provisioned_at = timezone.now()
    settings.provisioned_by = actor if getattr(actor, "pk", None) else None
    settings.save(update_fields=["saved_draft", "working_draft", "provisioned_at", "provisioned_by"])
    changed = not drafts.equivalent(before, after)
    audit_log(
        actor=actor,
        action="resources.provision",
        workspace=workspace,
        target=settings,
        target_label="Resource configuration",
        before=_summary(before),
        after=_summary(after),
    )
    schedule_soon(workspace)
    return ProvisionResult(warnings=configuration_warning_list(workspace=workspace), changed=changed)


def _summary(d: Draft) -> dict:
    names = {item["key"]: item["name"] for kind in ("pools", "profiles") for item in d[kind]}
    return {
        "pools": {p["name"]: p["capacity"] for p in d["pools"]},
        "profiles": {p["name"]: p["allotment"] for p in d["profiles"]},
        "links": {
            x["name"]: f"{names.get(x['profile'])} -> {names.get(x['pool'])} "
            f"(precedence {x['precedence']}, execution {x['execution_priority']})"
            for x in d["links"]
        },
    }


# --- applying a draft to the tables, step by step -------------------------------------------------


@dataclass
class _Rows:
    """Provisioned rows by draft key: what exists (`current`) and what the draft wants."""

    current: dict[str, dict]
    wanted: dict[str, dict[str, dict]]


def _apply(*, workspace: Workspace, draft: Draft) -> None:
    """Make the pool, profile and link tables (and the policies' order) say what DRAFT says."""
    draft = drafts.normalized(draft)
    rows = _Rows(
        current={
            "pools": {drafts.pool_key(p.pk): p for p in Pool.objects.for_workspace(workspace)},
            "profiles": {drafts.profile_key(p.pk): p for p in Profile.objects.for_workspace(workspace)},
            "links": {drafts.link_key(x.pk): x for x in Link.objects.for_workspace(workspace)},
        },
        wanted={kind: {item["key"]: item for item in draft[kind]} for kind in ("pools", "profiles", "links")},
    )
    _delete_dropped(rows)
    _park_renamed(rows)
    pools = _pools_write(workspace, rows)
    profiles = _profiles_write(workspace, rows)
    _links_write(workspace, rows, pools=pools, profiles=profiles)
    _policy_priority_write(profiles, draft["policy_priority"])


def _delete_dropped(rows: _Rows) -> None:
    """Deletions first (links before what they join), so names and pairs are free again."""
    links, want_links = rows.current["links"], rows.wanted["links"]
    for key, link in list(links.items()):
        want = want_links.get(key)
        ends = (drafts.profile_key(link.profile_id), drafts.pool_key(link.pool_id))
        if want is None or (want["profile"], want["pool"]) != ends:
            link.delete()  # a link whose ends changed is recreated by _links_write
            del links[key]
    for key, pool in list(rows.current["pools"].items()):
        if key not in rows.wanted["pools"]:
            pool.delete()  # its running jobs keep running (pool set to NULL, name kept)
            del rows.current["pools"][key]
    for key, profile in list(rows.current["profiles"].items()):
        if key not in rows.wanted["profiles"]:
            profile.delete()  # draft_errors made sure no queue uses it
            del rows.current["profiles"][key]


def _park_renamed(rows: _Rows) -> None:
    """Renames may swap names: park changed names on unique placeholders first."""
    for kind in ("pools", "profiles", "links"):
        for key, row in rows.current[kind].items():
            if row.name != rows.wanted[kind][key]["name"]:
                row.name = f"~{uuid.uuid4().hex}"
                row.save(update_fields=["name"])


def _pools_write(workspace: Workspace, rows: _Rows) -> dict[str, Pool]:
    """Update the kept pools, create the new ones; the pools by draft key."""
    by_key: dict[str, Pool] = {}
    for key, want in rows.wanted["pools"].items():
        capacity = drafts.clean_amount(want["capacity"], "capacity")
        description = want.get("description", "")
        row = rows.current["pools"].get(key)
        if row is not None:
            row.name, row.capacity, row.description = want["name"], capacity, description
            row.save(update_fields=["name", "capacity", "description"])
        else:
            row = Pool.objects.create(
                workspace=workspace, name=want["name"], capacity=capacity, description=description
            )
        by_key[key] = row
    return by_key


def _profiles_write(workspace: Workspace, rows: _Rows) -> dict[str, Profile]:
    """Update the kept profiles, create the new ones; the profiles by draft key."""
    by_key: dict[str, Profile] = {}
    for key, want in rows.wanted["profiles"].items():
        allotment = drafts.clean_amount(want["allotment"], "allotment", positive=True)
        row = rows.current["profiles"].get(key)
        if row is not None:
            row.name, row.allotment = want["name"], allotment
            row.save(update_fields=["name", "allotment"])
        else:
            row = Profile.objects.create(workspace=workspace, name=want["name"], allotment=allotment)
        by_key[key] = row
    return by_key


def _links_write(
    workspace: Workspace, rows: _Rows, *, pools: dict[str, Pool], profiles: dict[str, Profile]
) -> None:
    """Update the kept links (name and ranks), create the new ones between their rows."""
    for key, want in rows.wanted["links"].items():
        values = {
            "name": want["name"],
            "precedence": want["precedence"],
            "execution_priority": want["execution_priority"],
        }
        row = rows.current["links"].get(key)
        if row is not None:
            for attr, value in values.items():
                setattr(row, attr, value)
            row.save(update_fields=list(values))
        else:
            Link.objects.create(
                workspace=workspace, profile=profiles[want["profile"]], pool=pools[want["pool"]], **values
            )


def _policy_priority_write(profiles: dict[str, Profile], policy_priority: dict[str, list[int]]) -> None:
    """Per profile, the draft's order of the queues that still exist, then the rest as they were."""
    for key, profile in profiles.items():
        queues = list(Queue.objects.filter(profile=profile).order_by("priority", "id"))
        if not queues:
            continue
        by_id = {q.pk: q for q in queues}
        order = [by_id[q] for q in policy_priority.get(key, []) if q in by_id]
        order += [q for q in queues if q not in order]
        for rank, queue in enumerate(order, start=1):
            if queue.priority != rank:
                queue.priority = rank
                queue.save(update_fields=["priority"])
