"""Writes of the resources app: the editor draft, provisioning, policies, jobs.

Every change the scheduler must see in full (provisioning, enabling, policy edits)
takes the workspace's scheduler lock, so no pass overlaps it. Every change that may
let more jobs run asks for a pass once it is committed (`schedule_soon`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from access.permissions import MODIFY, require
from access.selectors import user_group_ids
from settings_portal.names import name_digest, name_key
from workspaces.audit import audit_log, changes
from workspaces.models import Workspace
from workspaces.selectors import membership_find

from . import draft as drafts
from .models import Job, JobState, Link, Policy, Pool, Profile, Queue, ResourceSettings
from .scheduler import lock_workspace

Draft = drafts.Draft


# --- settings and the enable switch ------------------------------------------------------


def settings_get(*, workspace: Workspace, lock: bool = False) -> ResourceSettings:
    """WORKSPACE's ResourceSettings row (created on first use); LOCK: select it for update."""
    settings, _ = ResourceSettings.objects.get_or_create(workspace=workspace)
    if lock:
        settings = ResourceSettings.objects.select_for_update().get(pk=settings.pk)
    return settings


@transaction.atomic
def resource_management_set(*, workspace: Workspace, actor, enabled: bool) -> ResourceSettings:
    """Turn scheduling on or off. Off: nothing is admitted; pending and running jobs are left alone."""
    lock_workspace(workspace)
    settings = settings_get(workspace=workspace, lock=True)
    if settings.enabled != enabled:
        settings.enabled = enabled
        settings.save(update_fields=["enabled"])
        audit_log(
            actor=actor,
            action="resources.enable" if enabled else "resources.disable",
            workspace=workspace,
            target=settings,
            target_label="Resource management",
            before={"enabled": not enabled},
            after={"enabled": enabled},
        )
        if enabled:
            schedule_soon(workspace)
    return settings


# --- the editor --------------------------------------------------------------------------------


def pool_key(pk: int) -> str:
    return f"p{pk}"


def profile_key(pk: int) -> str:
    return f"f{pk}"


def link_key(pk: int) -> str:
    return f"l{pk}"


def snapshot(*, workspace: Workspace) -> Draft:
    """The provisioned configuration as a draft document."""
    result = drafts.empty()
    for pool in Pool.objects.for_workspace(workspace).order_by("id"):
        result["pools"].append(
            {
                "key": pool_key(pool.pk),
                "name": pool.name,
                "capacity": drafts.amount_text(pool.capacity),
                "description": pool.description,
            }
        )
    for profile in Profile.objects.for_workspace(workspace).order_by("id"):
        result["profiles"].append(
            {
                "key": profile_key(profile.pk),
                "name": profile.name,
                "allotment": drafts.amount_text(profile.allotment),
            }
        )
    for link in Link.objects.for_workspace(workspace).order_by("id"):
        result["links"].append(
            {
                "key": link_key(link.pk),
                "name": link.name,
                "profile": profile_key(link.profile_id),
                "pool": pool_key(link.pool_id),
                "precedence": link.precedence,
                "execution_priority": link.execution_priority,
            }
        )
    for queue in Queue.objects.for_workspace(workspace).order_by("profile_id", "priority", "id"):
        result["policy_priority"].setdefault(profile_key(queue.profile_id), []).append(queue.pk)
    return drafts.normalized(result)


@dataclass
class EditorState:
    draft: Draft
    has_saved: bool  # a saved draft differs from the provisioned configuration
    has_unsaved: bool  # the editor holds changes that are not saved


def editor_state(*, workspace: Workspace, settings: ResourceSettings | None = None) -> EditorState:
    """What the editor shows: the working copy, else the saved draft, else the provisioned configuration."""
    settings = settings or settings_get(workspace=workspace)
    provisioned = snapshot(workspace=workspace)
    saved = settings.saved_draft
    base = saved if saved is not None else provisioned
    working = settings.working_draft
    current = working if working is not None else base
    return EditorState(
        draft=current,
        has_saved=saved is not None and _same(saved, provisioned) is False,
        has_unsaved=working is not None and _same(working, base) is False,
    )


def _same(a: Draft, b: Draft) -> bool:
    def canon(d: Draft) -> dict:
        n = drafts.normalized(d)
        return {
            "pools": sorted(
                (p["key"], p["name"], p["capacity"], p.get("description", "")) for p in n["pools"]
            ),
            "profiles": sorted((p["key"], p["name"], p["allotment"]) for p in n["profiles"]),
            "links": sorted(
                (x["key"], x["name"], x["profile"], x["pool"], x["precedence"], x["execution_priority"])
                for x in n["links"]
            ),
            "policy_priority": {k: list(v) for k, v in n["policy_priority"].items() if v},
        }

    return canon(a) == canon(b)


@transaction.atomic
def editor_edit(*, workspace: Workspace, actor, edit: Callable[[Draft], Draft]) -> Draft:
    """Apply EDIT (a function of resources.draft) to the editor's working copy; not saved, no effect."""
    settings = settings_get(workspace=workspace, lock=True)
    state = editor_state(workspace=workspace, settings=settings)
    new = edit(state.draft)
    settings.working_draft = new
    settings.save(update_fields=["working_draft"])
    return new


def profile_users(*, workspace: Workspace) -> dict[str, list[str]]:
    """Per provisioned profile key, the names of the policies that have a queue on it."""
    result: dict[str, list[str]] = {}
    for profile_id, policy_name in Queue.objects.for_workspace(workspace).values_list(
        "profile_id", "policy__name"
    ):
        result.setdefault(profile_key(profile_id), []).append(policy_name)
    return result


def profile_delete_edit(*, workspace: Workspace, key: str) -> Callable[[Draft], Draft]:
    users = profile_users(workspace=workspace)
    return lambda d: drafts.profile_delete(d, key, used_by=users.get(key))


@transaction.atomic
def draft_save(*, workspace: Workspace, actor) -> ResourceSettings:
    """Save: store the editor's working copy as the draft. It has no effect until provisioned."""
    settings = settings_get(workspace=workspace, lock=True)
    if settings.working_draft is not None:
        settings.saved_draft = settings.working_draft
        settings.working_draft = None
        settings.saved_at = timezone.now()
        settings.saved_by = actor if getattr(actor, "pk", None) else None
        settings.save(update_fields=["saved_draft", "working_draft", "saved_at", "saved_by"])
        audit_log(
            actor=actor,
            action="resources.draft_save",
            workspace=workspace,
            target=settings,
            target_label="Resource configuration draft",
        )
    return settings


@transaction.atomic
def draft_reset(*, workspace: Workspace, actor) -> ResourceSettings:
    """Reset Configuration: drop every unprovisioned change, saved or not."""
    settings = settings_get(workspace=workspace, lock=True)
    had = settings.saved_draft is not None or settings.working_draft is not None
    settings.saved_draft = None
    settings.working_draft = None
    settings.save(update_fields=["saved_draft", "working_draft"])
    if had:
        audit_log(
            actor=actor,
            action="resources.draft_reset",
            workspace=workspace,
            target=settings,
            target_label="Resource configuration draft",
        )
    return settings


@transaction.atomic
def editor_exit(*, workspace: Workspace, actor) -> ResourceSettings:
    """Exit the editor: unsaved changes are dropped; the saved draft waits in the editor."""
    settings = settings_get(workspace=workspace, lock=True)
    if settings.working_draft is not None:
        settings.working_draft = None
        settings.save(update_fields=["working_draft"])
    return settings


# --- provisioning ------------------------------------------------------------------------------


@dataclass
class ProvisionResult:
    warnings: list[str] = field(default_factory=list)
    changed: bool = False


def provision_errors(*, workspace: Workspace, draft: Draft) -> list[str]:
    """Why DRAFT cannot be provisioned ([] when it can)."""
    errors = drafts.validate(draft)
    if errors:
        return errors
    kept = {p["key"] for p in draft["profiles"]}
    for key, policy_names in profile_users(workspace=workspace).items():
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
                "still use it. Remove it from them on the Resource Policies page first."
            )
    for kind, prefix in (("pools", "p"), ("profiles", "f"), ("links", "l")):
        for item in draft[kind]:
            key = item["key"]
            if not key.startswith("new-") and not (key.startswith(prefix) and key[1:].isdigit()):
                errors.append(f"Unknown {kind[:-1]} key {key!r}.")
    return errors


def provision_warnings(*, workspace: Workspace) -> list[str]:
    """What is allowed but probably not meant, in the provisioned configuration."""
    warnings = []
    capacity = sum((p.capacity for p in Pool.objects.for_workspace(workspace)), Decimal(0))
    reserved = sum((p.reservation for p in Policy.objects.for_workspace(workspace)), Decimal(0))
    if reserved > capacity:
        warnings.append(
            f"The policies reserve {drafts.amount_text(reserved)} resources but the pools have "
            f"{drafts.amount_text(capacity)}: not every reservation can be honoured at once."
        )
    for queue in Queue.objects.for_workspace(workspace).select_related("policy", "profile"):
        if queue.profile.allotment > queue.policy.limit:
            warnings.append(
                f"Jobs of the queue “{queue.name}” cannot run: the profile “{queue.profile.name}” needs "
                f"{drafts.amount_text(queue.profile.allotment)} resources per job, more than the limit "
                f"{drafts.amount_text(queue.policy.limit)} of the policy “{queue.policy.name}”."
            )
    biggest: dict[int, Decimal] = {}
    for link in Link.objects.for_workspace(workspace).select_related("pool"):
        biggest[link.profile_id] = max(biggest.get(link.profile_id, Decimal(0)), link.pool.capacity)
    for profile in Profile.objects.for_workspace(workspace).filter(queues__isnull=False).distinct():
        if profile.pk not in biggest:
            warnings.append(f"The profile “{profile.name}” is not connected to any pool: its jobs wait.")
        elif profile.allotment > biggest[profile.pk]:
            warnings.append(
                f"The profile “{profile.name}” needs {drafts.amount_text(profile.allotment)} resources per job, "
                "more than any pool connected to it has: its jobs wait."
            )
    return warnings


@transaction.atomic
def provision(
    *, workspace: Workspace, actor, extra_edit: Callable[[Draft], Draft] | None = None
) -> ProvisionResult:
    """Provision: apply the saved draft (plus EXTRA_EDIT) atomically; the scheduler uses it from then on.

    Refused with ValidationError (nothing changed) when the editor holds unsaved changes
    or the draft breaks a rule. Never evicts a running job.
    """
    lock_workspace(workspace)
    settings = settings_get(workspace=workspace, lock=True)
    state = editor_state(workspace=workspace, settings=settings)
    if state.has_unsaved:
        raise ValidationError(
            "The editor has unsaved changes: Save them first (Provision applies the saved draft), "
            "or Reset Configuration to discard them."
        )
    draft = settings.saved_draft if settings.saved_draft is not None else snapshot(workspace=workspace)
    if extra_edit is not None:
        draft = extra_edit(draft)
    return provision_draft(workspace=workspace, actor=actor, draft=draft)


@transaction.atomic
def provision_draft(*, workspace: Workspace, actor, draft: Draft) -> ProvisionResult:
    """Make DRAFT the provisioned configuration (Provision, and import); editor drafts are dropped."""
    lock_workspace(workspace)
    settings = settings_get(workspace=workspace, lock=True)
    errors = provision_errors(workspace=workspace, draft=draft)
    if errors:
        raise ValidationError(errors)
    before = snapshot(workspace=workspace)
    _apply(workspace=workspace, draft=draft)
    after = snapshot(workspace=workspace)
    settings.saved_draft = None
    settings.working_draft = None
    settings.provisioned_at = timezone.now()
    settings.provisioned_by = actor if getattr(actor, "pk", None) else None
    settings.save(update_fields=["saved_draft", "working_draft", "provisioned_at", "provisioned_by"])
    changed = not _same(before, after)
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
    return ProvisionResult(warnings=provision_warnings(workspace=workspace), changed=changed)


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


def _apply(*, workspace: Workspace, draft: Draft) -> None:
    draft = drafts.normalized(draft)
    pools = {pool_key(p.pk): p for p in Pool.objects.for_workspace(workspace)}
    profiles = {profile_key(p.pk): p for p in Profile.objects.for_workspace(workspace)}
    links = {link_key(x.pk): x for x in Link.objects.for_workspace(workspace)}
    want_pools = {p["key"]: p for p in draft["pools"]}
    want_profiles = {p["key"]: p for p in draft["profiles"]}
    want_links = {x["key"]: x for x in draft["links"]}

    # Deletions first (links before what they join), so names and pairs are free again.
    for key, link in list(links.items()):
        want = want_links.get(key)
        if want is None or (want["profile"], want["pool"]) != (
            profile_key(link.profile_id),
            pool_key(link.pool_id),
        ):
            link.delete()  # a link whose ends changed is recreated below
            del links[key]
    for key, pool in list(pools.items()):
        if key not in want_pools:
            pool.delete()  # its running jobs keep running (pool set to NULL, name kept)
            del pools[key]
    for key, profile in list(profiles.items()):
        if key not in want_profiles:
            profile.delete()  # provision_errors made sure no queue uses it
            del profiles[key]

    # Renames may swap names: park changed names on unique placeholders first.
    for rows, wanted in ((pools, want_pools), (profiles, want_profiles), (links, want_links)):
        for key, row in rows.items():
            if row.name != wanted[key]["name"]:
                row.name = f"~{uuid.uuid4().hex}"
                row.save(update_fields=["name"])

    key_to_pool: dict[str, Pool] = {}
    for key, want in want_pools.items():
        capacity = drafts.clean_amount(want["capacity"], "capacity")
        description = want.get("description", "")
        if key in pools:
            row = pools[key]
            row.name, row.capacity, row.description = want["name"], capacity, description
            row.save(update_fields=["name", "capacity", "description"])
        else:
            row = Pool.objects.create(
                workspace=workspace, name=want["name"], capacity=capacity, description=description
            )
        key_to_pool[key] = row
    key_to_profile: dict[str, Profile] = {}
    for key, want in want_profiles.items():
        allotment = drafts.clean_amount(want["allotment"], "allotment", positive=True)
        if key in profiles:
            row = profiles[key]
            row.name, row.allotment = want["name"], allotment
            row.save(update_fields=["name", "allotment"])
        else:
            row = Profile.objects.create(workspace=workspace, name=want["name"], allotment=allotment)
        key_to_profile[key] = row
    for key, want in want_links.items():
        values = {
            "name": want["name"],
            "precedence": want["precedence"],
            "execution_priority": want["execution_priority"],
        }
        if key in links:
            row = links[key]
            for attr, value in values.items():
                setattr(row, attr, value)
            row.save(update_fields=list(values))
        else:
            Link.objects.create(
                workspace=workspace,
                profile=key_to_profile[want["profile"]],
                pool=key_to_pool[want["pool"]],
                **values,
            )

    # Policy priority: the draft's order of the queues that still exist, then the rest as they were.
    for key, profile in key_to_profile.items():
        queues = list(Queue.objects.filter(profile=profile).order_by("priority", "id"))
        if not queues:
            continue
        by_id = {q.pk: q for q in queues}
        order = [by_id[q] for q in draft["policy_priority"].get(key, []) if q in by_id]
        order += [q for q in queues if q not in order]
        for rank, queue in enumerate(order, start=1):
            if queue.priority != rank:
                queue.priority = rank
                queue.save(update_fields=["priority"])


# --- policies ------------------------------------------------------------------------------------


@dataclass
class QueueSpec:
    profile: Profile
    name: str


def _clean_policy(
    *,
    workspace: Workspace,
    policy: Policy | None,
    name,
    group,
    reservation,
    limit,
    queues: list[QueueSpec],
    description: str,
) -> dict:
    errors: dict[str, list[str]] = {}

    def attempt(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
            return None

    name = attempt(drafts.clean_name, name, what="policy name")
    reservation = attempt(drafts.clean_amount, reservation, "reservation", label="the reserved resources")
    limit = attempt(drafts.clean_amount, limit, "limit", label="the resource limit")
    description = (description or "").strip()[:500]
    if name and (
        Policy.objects.for_workspace(workspace)
        .filter(name_key=name_digest(name))
        .exclude(pk=getattr(policy, "pk", None))
        .exists()
    ):
        errors.setdefault("name", []).append(f"A policy named “{name}” already exists.")
    if group is None or group.workspace_id != workspace.pk:
        errors.setdefault("group", []).append("Choose a user group of this workspace.")
    if reservation is not None and limit is not None and reservation > limit:
        errors.setdefault("reservation", []).append("The reservation cannot be larger than the limit.")
    seen_profiles, seen_names = set(), set()
    others = Queue.objects.for_workspace(workspace)
    if policy is not None:
        others = others.exclude(policy=policy)
    taken = {name_key(n) for n in others.values_list("name", flat=True)}
    cleaned = []
    for spec in queues:
        if spec.profile.workspace_id != workspace.pk or not spec.profile.pk:
            errors.setdefault("queues", []).append(
                "Only provisioned profiles of this workspace can be connected."
            )
            continue
        if spec.profile.pk in seen_profiles:
            errors.setdefault("queues", []).append(f"The profile “{spec.profile.name}” is listed twice.")
            continue
        seen_profiles.add(spec.profile.pk)
        queue_name = attempt(drafts.clean_name, spec.name, field="queues", what="queue name")
        if queue_name is None:
            continue
        if name_key(queue_name) in taken or name_key(queue_name) in seen_names:
            errors.setdefault("queues", []).append(f"A queue named “{queue_name}” already exists.")
            continue
        seen_names.add(name_key(queue_name))
        if limit is not None and spec.profile.allotment > limit:
            errors.setdefault("queues", []).append(
                f"The profile “{spec.profile.name}” needs {drafts.amount_text(spec.profile.allotment)} resources "
                f"per job, more than the limit {drafts.amount_text(limit)}: it cannot be connected."
            )
            continue
        cleaned.append(QueueSpec(profile=spec.profile, name=queue_name))
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "group": group,
        "reservation": reservation,
        "limit": limit,
        "description": description,
        "queues": cleaned,
    }


def _policy_record(policy: Policy) -> dict:
    return {
        "name": policy.name,
        "group": policy.group.name if policy.group else None,
        "reservation": drafts.amount_text(policy.reservation),
        "limit": drafts.amount_text(policy.limit),
        "queues": sorted(f"{q.name} ({q.profile.name})" for q in policy.queues.select_related("profile")),
    }


@transaction.atomic
def policy_create(
    *,
    workspace: Workspace,
    actor,
    name,
    group,
    reservation,
    limit,
    queues: list[QueueSpec] = (),
    description: str = "",
) -> Policy:
    """A resource policy for GROUP with one named queue per profile in QUEUES; effective at once."""
    lock_workspace(workspace)
    data = _clean_policy(
        workspace=workspace,
        policy=None,
        name=name,
        group=group,
        reservation=reservation,
        limit=limit,
        queues=list(queues),
        description=description,
    )
    policy = Policy.objects.create(
        workspace=workspace,
        name=data["name"],
        group=data["group"],
        reservation=data["reservation"],
        limit=data["limit"],
        description=data["description"],
    )
    for spec in data["queues"]:
        _queue_create(policy, spec)
    audit_log(
        actor=actor,
        action="resources.policy_create",
        workspace=workspace,
        target=policy,
        after=_policy_record(policy),
    )
    schedule_soon(workspace)
    return policy


def _queue_create(policy: Policy, spec: QueueSpec) -> Queue:
    last = Queue.objects.filter(profile=spec.profile).aggregate(m=Max("priority"))["m"] or 0
    return Queue.objects.create(
        workspace=policy.workspace, policy=policy, profile=spec.profile, name=spec.name, priority=last + 1
    )


def _queue_drop(queue: Queue) -> int:
    """Delete QUEUE; its pending jobs go back to draft. Returns how many did."""
    count = Job.objects.filter(queue=queue, state=JobState.PENDING).update(
        state=JobState.DRAFT, queue=None, policy=None, profile=None, seq=None, enqueued_at=None
    )
    queue.delete()
    return count


@transaction.atomic
def policy_update(
    *,
    policy: Policy,
    actor,
    name,
    group,
    reservation,
    limit,
    queues: list[QueueSpec],
    description: str = "",
) -> Policy:
    """Change a policy; reservation and limit take effect at once. A profile left out loses its queue."""
    workspace = policy.workspace
    lock_workspace(workspace)
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    before = _policy_record(policy)
    data = _clean_policy(
        workspace=workspace,
        policy=policy,
        name=name,
        group=group,
        reservation=reservation,
        limit=limit,
        queues=list(queues),
        description=description,
    )
    policy.name, policy.group = data["name"], data["group"]
    policy.reservation, policy.limit, policy.description = (
        data["reservation"],
        data["limit"],
        data["description"],
    )
    policy.save()
    current = {q.profile_id: q for q in policy.queues.all()}
    wanted = {spec.profile.pk: spec for spec in data["queues"]}
    for profile_id, queue in current.items():
        if profile_id not in wanted:
            _queue_drop(queue)
    # Renames may swap names between this policy's queues: park them first.
    for profile_id, spec in wanted.items():
        queue = current.get(profile_id)
        if queue is not None and queue.name != spec.name:
            queue.name = f"~{uuid.uuid4().hex}"
            queue.save(update_fields=["name"])
    for profile_id, spec in wanted.items():
        queue = current.get(profile_id)
        if queue is None:
            _queue_create(policy, spec)
        elif queue.name != spec.name:
            queue.name = spec.name
            queue.save(update_fields=["name"])
            Job.objects.filter(queue=queue).update(queue_name=spec.name)
    after = _policy_record(policy)
    before, after = changes(before, after)
    if after:
        audit_log(
            actor=actor,
            action="resources.policy_update",
            workspace=workspace,
            target=policy,
            before=before,
            after=after,
        )
    schedule_soon(workspace)
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy, actor) -> int:
    """Delete a policy; its pending jobs leave the queue (back to draft). Returns how many did."""
    workspace = policy.workspace
    lock_workspace(workspace)
    record = _policy_record(policy)
    dropped = sum(_queue_drop(queue) for queue in policy.queues.all())
    audit_log(
        actor=actor, action="resources.policy_delete", workspace=workspace, target=policy, before=record
    )
    policy.delete()
    schedule_soon(workspace)
    return dropped


# --- jobs -------------------------------------------------------------------------------------


def next_seqs(n: int) -> list[int]:
    """N new enqueue-order numbers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('resources_job_seq') FROM generate_series(1, %s)", [n])
            return [row[0] for row in cursor.fetchall()]
    last = Job.objects.aggregate(m=Max("seq"))["m"] or 0
    return list(range(last + 1, last + n + 1))


def can_enqueue(*, workspace: Workspace, user, queue: Queue, membership=None) -> bool:
    """USER may enqueue into QUEUE: they are in its policy's user group (MEMBERSHIP: as the
    caller sees it, see access.selectors.user_group_ids)."""
    group_id = queue.policy.group_id
    return group_id is not None and group_id in user_group_ids(
        workspace=workspace, user=user, membership=membership
    )


@transaction.atomic
def job_enqueue(
    *,
    workspace: Workspace,
    actor,
    queue: Queue,
    name: str = "",
    task_id: str = "",
    job: Job | None = None,
    check_group: bool = True,
    membership=None,
) -> Job:
    """Put a job at the end of QUEUE (a new one, or JOB again from draft/completed/aborted).

    The caller must be in the policy's user group (CHECK_GROUP=False only for operator
    commands and the simulator) and, whoever ACTOR is, may modify QUEUE under the Access
    Rules. MEMBERSHIP: ACTOR's membership as the caller sees it (the API's, capped under
    impersonation); loaded when not given. ACTOR None: an operator command, no checks.
    """
    if queue.workspace_id != workspace.pk:
        raise ValidationError("No such queue.")
    if actor is not None and membership is None:
        membership = membership_find(workspace=workspace, user=actor)
    if check_group and not can_enqueue(workspace=workspace, user=actor, queue=queue, membership=membership):
        raise PermissionDenied(f"You are not in the user group of the policy “{queue.policy.name}”.")
    if actor is not None:
        require(membership, queue, MODIFY, f"An access rule denies modifying the queue “{queue.name}”.")
    now = timezone.now()
    (seq,) = next_seqs(1)
    values = {
        "state": JobState.PENDING,
        "queue": queue,
        "policy_id": queue.policy_id,
        "profile_id": queue.profile_id,
        "queue_name": queue.name,
        "seq": seq,
        "enqueued_at": now,
        "pool": None,
        "pool_name": "",
        "allotment": None,
        "started_at": None,
        "fetched_at": None,
        "worker": "",
        "finished_at": None,
    }
    if job is not None:
        if job.workspace_id != workspace.pk:
            raise ValidationError("No such job.")
        updated = (
            Job.objects.filter(pk=job.pk)
            .exclude(state__in=[JobState.PENDING, JobState.RUNNING])
            .update(**{k: v for k, v in values.items() if k != "queue"}, queue_id=queue.pk)
        )
        if not updated:
            raise ValidationError(f"The job “{job.name}” is already queued or running.")
        job.refresh_from_db()
    else:
        name = (name or "").strip()[:255]
        task_id = (task_id or "").strip()[:64] or uuid.uuid4().hex
        job = Job.objects.create(
            workspace=workspace,
            name=name or task_id,
            task_id=task_id,
            created_by=actor if getattr(actor, "pk", None) else None,
            **values,
        )
    schedule_soon(workspace)
    return job


def job_complete(*, job: Job, actor=None) -> bool:
    """A running job finished: free its resources. False when it was not running."""
    done = Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.COMPLETED, finished_at=timezone.now()
    )
    if done:
        schedule_soon(job.workspace)
    return bool(done)


@transaction.atomic
def job_abort(*, job: Job, actor, audit: bool = True, membership=None) -> bool:
    """Abort a pending job (it leaves its queue) or a running one (its resources are freed).

    ACTOR must be allowed to modify the job under the Access Rules (MEMBERSHIP as for
    job_enqueue); ACTOR None: the operator. False when the job was not queued or running.
    """
    if actor is not None:
        if membership is None:
            membership = membership_find(workspace=job.workspace, user=actor)
        require(membership, job, MODIFY, "An access rule denies modifying this task.")
    was = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
    done = Job.objects.filter(pk=job.pk, state__in=[JobState.PENDING, JobState.RUNNING]).update(
        state=JobState.ABORTED, finished_at=timezone.now()
    )
    if done and audit:
        audit_log(
            actor=actor,
            action="resources.job_abort",
            workspace=job.workspace,
            target=job,
            before={"state": was},
            after={"state": JobState.ABORTED.value},
        )
    if done:
        schedule_soon(job.workspace)
    return bool(done)


def job_start_on(*, job: Job, pool: Pool) -> bool:
    """Record a pending job as already running on POOL (imports, fixtures, the simulator's
    initial state): outside the scheduler, so no rule is checked. False when not pending."""
    allotment = Profile.objects.filter(pk=job.profile_id).values_list("allotment", flat=True).first()
    done = Job.objects.filter(pk=job.pk, state=JobState.PENDING).update(
        state=JobState.RUNNING, pool=pool, pool_name=pool.name, allotment=allotment, started_at=timezone.now()
    )
    return bool(done)


@transaction.atomic
def job_fetch_next(*, workspace: Workspace, pool: Pool, worker: str = "") -> Job | None:
    """For an agent serving POOL: the oldest admitted job there that no agent has taken yet."""
    job = (
        Job.objects.for_workspace(workspace)
        .select_for_update(skip_locked=True)
        .filter(pool=pool, state=JobState.RUNNING, fetched_at__isnull=True)
        .order_by("started_at", "seq", "id")
        .first()
    )
    if job is None:
        return None
    job.fetched_at = timezone.now()
    job.worker = (worker or "")[:255]
    job.save(update_fields=["fetched_at", "worker"])
    return job


# --- running the scheduler ---------------------------------------------------------------


def schedule_soon(workspace: Workspace) -> None:
    """Ask for a scheduling pass of WORKSPACE once the current transaction commits."""
    workspace_id = str(workspace.pk)
    # One request per workspace per commit, however many changes the transaction held: the
    # callbacks of one commit share a batch, and the first to run for a workspace does it.
    batch = getattr(connection, "resources_schedule_batch", None)
    if batch is None or batch["started"]:
        batch = {"started": False, "sent": set()}
        connection.resources_schedule_batch = batch

    def send() -> None:
        from .tasks import request_schedule

        batch["started"] = True
        if workspace_id in batch["sent"]:
            return
        batch["sent"].add(workspace_id)
        request_schedule(workspace_id)

    transaction.on_commit(send)


def running_usage(*, workspace: Workspace) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """(pool id -> resources in use, policy id -> resources in use), from the running jobs."""
    from .scheduler import usage_by

    return usage_by(workspace, "pool_id"), usage_by(workspace, "policy_id")
