"""Jobs: enqueued into a policy's queue, admitted by the scheduler, fetched by agents, finished.

Who may enqueue or abort is checked here, whoever calls (web pages, the API, portal_resources):
the policy's user group, and the Access Rules (access.permissions).
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from access.permissions import MODIFY, require
from access.selectors import user_group_ids
from workspaces.audit import audit_log
from workspaces.models import Workspace
from workspaces.selectors import membership_find

from ..models import Job, JobState, Pool, Profile, Queue, UpstreamAction
from . import background
from .scheduling import schedule_soon


def job_seqs_next(n: int) -> list[int]:
    """N new enqueue-order numbers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('resources_job_seq') FROM generate_series(1, %s)", [n])
            return [row[0] for row in cursor.fetchall()]
    last = Job.objects.aggregate(m=Max("seq"))["m"] or 0
    return list(range(last + 1, last + n + 1))


def _in_policy_group(*, workspace: Workspace, user, queue: Queue, membership=None) -> bool:
    """USER may enqueue into QUEUE: they are in its policy's user group (MEMBERSHIP: as the
    caller sees it, see access.selectors.user_group_ids)."""
    group_id = queue.policy.group_id
    return group_id is not None and group_id in user_group_ids(
        workspace=workspace, user=user, membership=membership
    )


@transaction.atomic
def pending_values(queue: Queue, seq: int, enqueued_at) -> dict:
    """A job's fields when it (re)enters QUEUE's line, waiting: no pool, no run yet."""
    return {
        "state": JobState.PENDING,
        "queue": queue,
        "policy_id": queue.policy_id,
        "profile_id": queue.profile_id,
        "queue_name": queue.name,
        "seq": seq,
        "enqueued_at": enqueued_at,
        "pool": None,
        "pool_name": "",
        "allotment": None,
        "started_at": None,
        "fetched_at": None,
        "worker": "",
        "finished_at": None,
    }


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
    if check_group and not _in_policy_group(
        workspace=workspace, user=actor, queue=queue, membership=membership
    ):
        raise PermissionDenied(f"You are not in the user group of the policy “{queue.policy.name}”.")
    if actor is not None:
        require(membership, queue, MODIFY, f"An access rule denies modifying the queue “{queue.name}”.")
    now = timezone.now()
    (seq,) = job_seqs_next(1)
    values = pending_values(queue, seq, now)
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
    if done and job.upstream:
        # A real task on the linked server: stopped there by the outbox once this commits.
        _job_upstream_stop(job=job)
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


def _job_upstream_stop(*, job: Job) -> None:
    """An aborted real task: marked for the outbox (services.upstream) to stop it on the server
    once this commits."""
    Job.objects.filter(pk=job.pk, upstream=True).update(
        upstream_action=UpstreamAction.STOP, action_attempts=0, action_error="", action_due_at=None
    )
    transaction.on_commit(lambda: background.request_drain(str(job.workspace_id)))
