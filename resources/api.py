"""ClearML-style API endpoints of the resource policies (registered with settings_portal.api).

- `tasks.enqueue {task?, queue | queue_name, name?}`: put a job into a policy queue (by
  queue id or name). The caller must be in the policy's user group. TASK is the ClearML
  task id: a finished or draft job of that task is queued again; an unknown one is new.
- `queues.get_next_task {queue, get_task_info?, worker?}`: for an agent serving a pool
  (QUEUE = the pool's id or name): the next job the scheduler admitted there, or {}.
- `tasks.completed {task}` / `tasks.stopped {task}`: a job finished / was aborted; its
  resources are freed and the scheduler runs.

Agents (fetch, complete) need a workspace administrator's or a service account's
credentials; `tasks.stopped` is also allowed to whoever enqueued the job.

They stand in for the ClearML server's calls of the same names: when the caller's workspace is
linked to a ClearML server (gateway/), those calls are forwarded there instead
(`forward_when_linked`).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from settings_portal.api import ApiCall, endpoint, errors
from settings_portal.inputs import parse_id

from .models import Job, JobState, Pool, Queue
from .services import jobs

STATUS = {
    JobState.DRAFT: "created",
    JobState.PENDING: "queued",
    JobState.RUNNING: "in_progress",
    JobState.COMPLETED: "completed",
    JobState.ABORTED: "stopped",
}


def _member(call: ApiCall):
    membership = call.membership
    if membership is None:
        raise errors.RoleNotAllowed("not a member of this workspace")
    return membership


def _is_agent(call: ApiCall) -> bool:
    membership = _member(call)
    return membership.is_admin or bool(getattr(call.user, "is_service_account", False))


def _text(call: ApiCall, key: str) -> str:
    value = call.data.get(key)
    if isinstance(value, list):
        value = value[-1] if value else None
    return "" if value is None else str(value).strip()


def _by_id_or_name(qs, value: str):
    if not value:
        return None
    pk = parse_id(value)
    if pk is not None:
        found = qs.filter(pk=pk).first()
        if found is not None:
            return found
    return qs.filter(name=value).first()


def job_data(job: Job) -> dict:
    return {
        "id": job.task_id,
        "job": job.pk,
        "name": job.name,
        "status": STATUS[JobState(job.state)],
        "queue": job.queue_id,
        "queue_name": job.queue_name,
        "pool": job.pool_id,
        "pool_name": job.pool_name,
        "allotment": float(job.allotment) if job.allotment is not None else None,
    }


def _job(call: ApiCall) -> Job:
    task = _text(call, "task")
    if not task:
        raise errors.MissingRequiredFields("task")
    qs = Job.objects.for_workspace(call.workspace)
    job = qs.filter(task_id=task).order_by("-id").first()
    if job is None and parse_id(task) is not None:
        job = qs.filter(pk=parse_id(task)).first()
    if job is None:
        raise errors.InvalidId(f"no job of task {task}")
    return job


@endpoint("tasks.enqueue", forward_when_linked=True)
def enqueue(call: ApiCall) -> dict:
    _member(call)
    queue_ref = _text(call, "queue") or _text(call, "queue_name")
    if not queue_ref:
        raise errors.MissingRequiredFields("queue or queue_name")
    queues = Queue.objects.for_workspace(call.workspace).select_related("policy")
    queue = _by_id_or_name(queues, queue_ref)
    if queue is None:
        raise errors.InvalidId(f"no queue {queue_ref}")
    task = _text(call, "task")
    existing = (
        Job.objects.for_workspace(call.workspace).filter(task_id=task).order_by("-id").first()
        if task
        else None
    )
    job = jobs.job_enqueue(
        workspace=call.workspace,
        actor=call.user,
        queue=queue,
        name=_text(call, "name") or task,
        task_id=task,
        job=existing,
        # Capped at member for an impersonated token: the policy group and the Access Rules
        # are checked by the service (PermissionDenied answers 403).
        membership=call.membership,
    )
    return {
        "queued": 1,
        "updated": 1,
        "fields": {"status": "queued", "execution.queue": queue.pk},
        "job": job_data(job),
    }


@endpoint("queues.get_next_task", forward_when_linked=True)
def get_next_task(call: ApiCall) -> dict:
    if not _is_agent(call):
        raise errors.RoleNotAllowed("agents need an administrator's or a service account's credentials")
    pool_ref = _text(call, "queue") or _text(call, "pool")
    pool = _by_id_or_name(Pool.objects.for_workspace(call.workspace), pool_ref)
    if pool is None:
        raise errors.InvalidId(f"no resource pool {pool_ref}")
    job = jobs.job_fetch_next(
        workspace=call.workspace,
        pool=pool,
        worker=_text(call, "worker") or call.headers.get("X-ClearML-Worker", ""),
    )
    if job is None:
        return {}
    result = {
        "entry": {"task": job.task_id, "added": job.enqueued_at.isoformat() if job.enqueued_at else None}
    }
    if call.data.get("get_task_info") in (True, "true", 1, "1"):
        result["task_info"] = {
            "user": str(job.created_by_id) if job.created_by_id else None,
            "company": str(call.workspace.pk),
        }
    result["job"] = job_data(job)
    return result


@endpoint("tasks.completed", forward_when_linked=True)
def completed(call: ApiCall) -> dict:
    if not _is_agent(call):
        raise errors.RoleNotAllowed("agents need an administrator's or a service account's credentials")
    job = _job(call)
    if not jobs.job_complete(job=job, actor=call.user):
        raise errors.ValidationFailed(f"the job is {STATUS[JobState(job.state)]}, not running")
    job.refresh_from_db()
    return {"updated": 1, "fields": {"status": "completed"}, "job": job_data(job)}


@endpoint("tasks.stopped", forward_when_linked=True)
def stopped(call: ApiCall) -> dict:
    job = _job(call)
    if not (_is_agent(call) or (job.created_by_id is not None and job.created_by_id == call.user.pk)):
        raise PermissionDenied("only an agent or whoever enqueued the job can stop it")
    # The Access Rules are checked by the service (PermissionDenied answers 403).
    if not jobs.job_abort(job=job, actor=call.user, audit=False, membership=call.membership):
        raise errors.ValidationFailed(f"the job is {STATUS[JobState(job.state)]}, not queued or running")
    job.refresh_from_db()
    return {"updated": 1, "fields": {"status": "stopped"}, "job": job_data(job)}
