"""Resource policies: a user group's reservation and limit, and its queues (one per profile).

Changes take effect at once: they take the workspace's scheduler lock and ask for a pass.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from settings_portal.names import name_digest, name_key
from workspaces.audit import audit_log, changes
from workspaces.models import Workspace

from .. import draft as drafts
from ..models import Job, JobState, Policy, Profile, Queue
from ..scheduler import lock_workspace
from .scheduling import schedule_soon


@dataclass
class QueueSpec:
    profile: Profile
    name: str


def policy_clean(
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
    """The policy's values checked and cleaned, or ValidationError({field: [messages]}).

    The one source of the policy rules: the services call it (under the scheduler lock) and
    PolicyForm.clean() calls it too, so the dialog shows the same errors before anything is
    written. POLICY: the policy being edited (None for a new one).
    """
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
    data = policy_clean(
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
    data = policy_clean(
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
