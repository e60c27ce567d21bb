"""Resource policies on forwarded ClearML calls (gateway/interception.py), registered from
ResourcesConfig.ready().

- Before `tasks.enqueue` / `tasks.enqueue_many`: into a policy queue only for members of the
  policy's user group; never straight into an agent queue (only the scheduler puts tasks
  there, so no policy can be bypassed); no queue made on the fly by `queue_name` (a name the
  server does not know is refused). Queues the portal does not govern are left alone.
- After a successful enqueue into a policy queue: the pending job is recorded (task, owner,
  profile, time) and a pass asked for.
- After `tasks.started`, `completed`, `stopped`, `failed`, `stop`, `reset`, `dequeue`, `delete`
  (and their `_many` forms): the job follows its task; finishing frees its resources at once.
"""

from __future__ import annotations

import logging

from access.selectors import user_group_ids
from gateway.client import UpstreamUnavailable
from gateway.interception import Forwarded, after_forward, before_forward
from settings_portal.api import errors

from .models import Job, JobState, UpstreamQueue, UpstreamQueueKind
from .services import upstream as services

logger = logging.getLogger(__name__)

ENQUEUE = ("tasks.enqueue", "tasks.enqueue_many")
OBSERVED = {
    "tasks.started": "started",
    "tasks.completed": "completed",
    "tasks.stopped": "stopped",
    "tasks.failed": "failed",
    "tasks.stop": "stop",
    "tasks.stop_many": "stop",
    "tasks.reset": "reset",
    "tasks.reset_many": "reset",
    "tasks.dequeue": "dequeue",
    "tasks.dequeue_many": "dequeue",
    "tasks.delete": "delete",
    "tasks.delete_many": "delete",
}
KEY = "resources"


def _task_ids(body) -> list[str]:
    if not isinstance(body, dict):
        return []
    ids = body.get("ids")
    if isinstance(ids, list):
        return [i for i in ids if isinstance(i, str)]
    task = body.get("task")
    return [task] if isinstance(task, str) and task else []


def _done_ids(forwarded: Forwarded, response: dict | None, asked: list[str]) -> list[str]:
    """The tasks a call acted on: for a `_many` call, those its answer lists as succeeded."""
    if forwarded.name.endswith("_many"):
        succeeded = ((response or {}).get("data") or {}).get("succeeded")
        if isinstance(succeeded, list):
            return [s.get("id") for s in succeeded if isinstance(s, dict) and s.get("id")]
    return asked


def _ledger_row(workspace, *, upstream_id: str | None = None, name: str | None = None):
    qs = UpstreamQueue.objects.for_workspace(workspace).select_related("queue__policy")
    if upstream_id:
        return qs.filter(upstream_id=upstream_id).first()
    return qs.filter(name=name).exclude(upstream_id="").first()


@before_forward(*ENQUEUE)
def check_enqueue(forwarded: Forwarded) -> None:
    body = forwarded.body
    if not isinstance(body, dict):
        return
    workspace = forwarded.call.workspace
    queue_id, queue_name = body.get("queue"), body.get("queue_name")
    row = None
    if isinstance(queue_id, str) and queue_id:
        row = _ledger_row(workspace, upstream_id=queue_id)
    elif isinstance(queue_name, str) and queue_name:
        row = _ledger_row(workspace, name=queue_name)
        if row is None:
            try:
                known = services.queue_by_name(forwarded.upstream, queue_name)
            except (UpstreamUnavailable, services.UpstreamError) as exc:
                raise errors.BadGateway(str(exc)) from None
            if known is None:
                raise errors.RoleNotAllowed(
                    f"there is no queue named {queue_name!r}: queues are not made by enqueueing. "
                    "Enqueue into your resource policy's queue (Settings > Resource Policies)."
                )
            return
        # Governed: send it by id (the server would otherwise look the name up itself).
        body.pop("queue_name", None)
        body["queue"] = row.upstream_id
    if row is None:
        return  # the default queue, or a queue the portal does not govern
    if row.retired:
        raise errors.RoleNotAllowed(f"the queue {row.name!r} was removed from its resource policy")
    if row.kind == UpstreamQueueKind.AGENT:
        raise errors.RoleNotAllowed(
            f"{row.name!r} is the agent queue of a resource pool: only the portal's scheduler puts "
            "tasks there. Enqueue into your resource policy's queue instead."
        )
    policy = row.queue.policy
    membership = forwarded.call.membership
    if policy.group_id is None or policy.group_id not in user_group_ids(
        workspace=workspace, user=forwarded.call.user, membership=membership
    ):
        raise errors.RoleNotAllowed(f"you are not in the user group of the resource policy {policy.name!r}")
    task_ids = _task_ids(body)
    admitted = Job.objects.for_workspace(workspace).filter(
        task_id__in=task_ids, state=JobState.RUNNING, upstream=True
    )
    if admitted.exists():
        raise errors.ValidationFailed("the task is already admitted to a resource pool")
    forwarded.extra[KEY] = (row.queue, task_ids)


@after_forward(*ENQUEUE)
def record_enqueue(forwarded: Forwarded, status: int, response: dict | None) -> None:
    noted = forwarded.extra.get(KEY)
    if noted is None or status != 200:
        return
    queue, task_ids = noted
    task_ids = _done_ids(forwarded, response, task_ids)
    services.jobs_record(
        workspace=forwarded.call.workspace, actor=forwarded.call.user, queue=queue, task_ids=task_ids
    )


@before_forward(*OBSERVED)
def read_body(forwarded: Forwarded) -> None:
    """Nothing to check: registered so that the observer below sees the body (the task ids)."""


@after_forward(*OBSERVED)
def observe(forwarded: Forwarded, status: int, response: dict | None) -> None:
    if status != 200:
        return
    task_ids = _done_ids(forwarded, response, _task_ids(forwarded.body))
    if not task_ids:
        return
    services.job_observed(
        workspace=forwarded.call.workspace,
        task_ids=task_ids,
        event=OBSERVED[forwarded.name],
        response=response,
    )
