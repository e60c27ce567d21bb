"""Resource policies on a linked ClearML server: its queues, the real tasks in them, the outbox.

- `queues_sync`: Provision's upstream half. Creates, renames and retires the server's queues
  the configuration needs (a policy queue per policy and profile, an agent queue per
  profile-to-pool connection), recorded in the UpstreamQueue ledger. Idempotent: a sync that
  died half-way is repaired by the next one (a queue made but not recorded is adopted by name).
- `jobs_record`: a task the gateway let into a policy queue becomes a pending job.
- `outbox_drain`: executes what admissions and aborts left to do upstream (Job.upstream_action):
  `tasks.enqueue` into the connection's agent queue (a move), `tasks.stop`. Rows are claimed with
  `FOR UPDATE SKIP LOCKED`, so workers drain in parallel without doing a row twice; a call
  that fails for want of the server leaves the row for the next drain; a move replayed after a
  crash is harmless (enqueueing into the queue the task is in changes nothing, and a task an
  agent already took is recognised). Calls of one batch go out in parallel.
- `job_observed`: what the gateway's observers saw a task do (started, completed, ...).
- `reconcile`: the safety net, `tasks.get_all` by ids with only_fields for every live job; a
  pending job whose task runs (an agent served the policy queue) is counted as running.
- `strays_stop`: a task queued again in an agent queue after its job ended (a stop racing a
  move) is taken out again.
- `jobs_adopt`: the safety net of `jobs_record`: tasks queued in a policy queue without a job
  (the portal failed after the server accepted the enqueue) become pending jobs.

docs/resource-scheduling.md ("Real queues on a ClearML server"), docs/adr/0005.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from access.selectors import user_group_ids
from accounts.models import User
from gateway import services as gateway
from gateway.cache import Upstream
from gateway.client import Reply, UpstreamUnavailable
from workspaces.models import Workspace

from ..models import Job, JobState, Link, Pool, Queue, UpstreamAction, UpstreamQueue, UpstreamQueueKind
from ..scheduler import lock_workspace
from .jobs import job_seqs_next, pending_values
from .scheduling import schedule_soon

logger = logging.getLogger(__name__)

SYNC_LOCK_CLASS = 0x5255  # "RU": one queue sync at a time per workspace
DRAIN_BATCH = 500
DRAIN_THREADS = 16
RECONCILE_BATCH = 500
ADOPT_CHUNK = 5000
MAX_RETRY_SECONDS = 60
MOVE_CHUNK = 100
TAG = "settings-portal"

# Upstream statuses by what they mean for a job.
RUNNING_STATUSES = {"in_progress"}
DONE_STATUSES = {"completed", "published", "closed", "failed"}
STOPPED_STATUSES = {"stopped"}


class UpstreamError(Exception):
    """The server answered with an error where the portal needed it to succeed."""


def upstream_of(workspace: Workspace | str) -> Upstream | None:
    """The linked server of WORKSPACE (from the gateway's process cache), or None."""
    workspace_id = getattr(workspace, "pk", workspace)
    return gateway.upstream_for(getattr(workspace_id, "hex", str(workspace_id).replace("-", "")))


def system_call(upstream: Upstream, endpoint: str, data: dict) -> Reply:
    """One call as the server's system user (raises UpstreamUnavailable, ProvisioningFailed)."""
    return gateway._system_call(upstream, endpoint, data)


def _ok(reply: Reply, what: str) -> dict:
    if not reply.ok:
        raise UpstreamError(f"{what}: {reply.message}")
    return reply.data


def _subcode(reply: Reply) -> int:
    return int((reply.body.get("meta") or {}).get("result_subcode") or 0)


# --- the queues -----------------------------------------------------------------------------------


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    linked: bool = True


def _session_lock(workspace: Workspace) -> bool:
    if connection.vendor != "postgresql":
        return True
    key = zlib.crc32(str(workspace.pk).encode()) - (1 << 31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [SYNC_LOCK_CLASS, key])
        return bool(cursor.fetchone()[0])


def _session_unlock(workspace: Workspace) -> None:
    if connection.vendor != "postgresql":
        return
    key = zlib.crc32(str(workspace.pk).encode()) - (1 << 31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [SYNC_LOCK_CLASS, key])


def _ledger_fill(workspace: Workspace) -> None:
    """A ledger row for every policy queue and connection that has none yet."""
    for queue in Queue.objects.for_workspace(workspace).filter(upstream__isnull=True):
        UpstreamQueue.objects.get_or_create(
            queue=queue,
            defaults={"workspace": workspace, "kind": UpstreamQueueKind.POLICY, "name": queue.name},
        )
    for link in Link.objects.for_workspace(workspace).filter(upstream__isnull=True):
        UpstreamQueue.objects.get_or_create(
            link=link, defaults={"workspace": workspace, "kind": UpstreamQueueKind.AGENT, "name": link.name}
        )


def queues_sync(workspace: Workspace, *, verify: bool = True) -> SyncResult:
    """Make the server's queues what the provisioned configuration and the policies want.

    VERIFY: list the server's queues (one call) to find queues deleted or made behind the
    ledger's back; without it only what the ledger says is missing is done.
    """
    result = SyncResult()
    upstream = upstream_of(workspace)
    if upstream is None:
        result.linked = False
        return result
    if not _session_lock(workspace):
        return result  # another process syncs this workspace right now
    try:
        _ledger_fill(workspace)
        rows = list(UpstreamQueue.objects.for_workspace(workspace).select_related("queue", "link"))
        if not verify and not any(not r.upstream_id or r.retired or r.name != _wanted_name(r) for r in rows):
            return result
        try:
            listed = _ok(system_call(upstream, "queues.get_all", {"only_fields": ["id", "name"]}), "queues")
        except (UpstreamUnavailable, UpstreamError, gateway.ProvisioningFailed) as exc:
            result.errors.append(str(exc))
            return result
        by_id = {q["id"]: q.get("name", "") for q in listed.get("queues", [])}
        by_name = {name: qid for qid, name in by_id.items()}
        owned = {r.upstream_id: r for r in rows if r.upstream_id}
        try:
            _retire(upstream, rows, by_id, by_name, owned, result)
            for row in rows:
                if not row.retired:
                    _ensure(upstream, row, by_id, by_name, owned, result)
        except (UpstreamUnavailable, gateway.ProvisioningFailed) as exc:
            result.errors.append(str(exc))
    finally:
        _session_unlock(workspace)
    return result


def _wanted_name(row: UpstreamQueue) -> str:
    if row.queue is not None:
        return row.queue.name
    if row.link is not None:
        return row.link.name
    return row.name


def _retire(upstream, rows, by_id, by_name, owned, result: SyncResult) -> None:
    """Delete the server's queues of retired rows, once empty (a policy queue: with its tasks,
    which go back to draft as their jobs did; an agent queue: only when empty, no eviction).
    A retired queue whose name a live row wants is handed over to that row instead."""
    wanted = {_wanted_name(r): r for r in rows if not r.retired}
    for row in rows:
        if not row.retired:
            continue
        if not row.upstream_id or row.upstream_id not in by_id:
            row.delete()
            continue
        heir = wanted.get(by_id[row.upstream_id])
        if heir is not None and not heir.upstream_id and heir.kind == row.kind:
            upstream_id = row.upstream_id
            row.delete()
            owned.pop(upstream_id, None)
            heir.upstream_id = upstream_id
            heir.save(update_fields=["upstream_id"])
            owned[upstream_id] = heir
            result.adopted.append(heir.name)
            continue
        force = row.kind == UpstreamQueueKind.POLICY
        reply = system_call(upstream, "queues.delete", {"queue": row.upstream_id, "force": force})
        if reply.ok or _subcode(reply) == 701:
            by_name.pop(by_id.pop(row.upstream_id, None), None)
            owned.pop(row.upstream_id, None)
            row.delete()
            result.retired.append(row.name)
        else:  # 702: an agent queue with admitted tasks still waiting for an agent
            row.last_error = reply.message[:500]
            row.save(update_fields=["last_error"])


def _ensure(upstream, row: UpstreamQueue, by_id, by_name, owned, result: SyncResult) -> None:
    name = _wanted_name(row)
    if row.upstream_id and row.upstream_id not in by_id:
        owned.pop(row.upstream_id, None)
        row.upstream_id = ""  # deleted on the server behind our back: made again
    if not row.upstream_id:
        existing = by_name.get(name)
        if existing and existing not in owned:
            row.upstream_id = existing  # made by a sync that died before recording it
            result.adopted.append(name)
        else:
            reply = system_call(upstream, "queues.create", {"name": name, "tags": [TAG, f"{TAG}:{row.kind}"]})
            if not reply.ok:
                row.last_error = reply.message[:500]
                row.save(update_fields=["last_error"])
                result.errors.append(f"{name}: {reply.message}")
                return
            row.upstream_id = reply.data["id"]
            result.created.append(name)
        by_id[row.upstream_id] = name
        by_name[name] = row.upstream_id
        owned[row.upstream_id] = row
    elif by_id.get(row.upstream_id) != name:
        reply = system_call(upstream, "queues.update", {"queue": row.upstream_id, "name": name})
        if not reply.ok:
            row.last_error = reply.message[:500]
            row.save(update_fields=["last_error"])
            result.errors.append(f"{name}: {reply.message}")
            return
        by_name.pop(by_id.get(row.upstream_id), None)
        by_id[row.upstream_id] = name
        by_name[name] = row.upstream_id
        result.renamed.append(name)
    row.name = name
    row.synced_at = timezone.now()
    row.last_error = ""
    row.save(update_fields=["upstream_id", "name", "synced_at", "last_error"])


def ledger_by_upstream_id(workspace: Workspace) -> dict[str, UpstreamQueue]:
    return {
        r.upstream_id: r
        for r in UpstreamQueue.objects.for_workspace(workspace)
        .exclude(upstream_id="")
        .select_related("queue")
    }


def queue_by_name(upstream: Upstream, name: str) -> str | None:
    """The id of the server's queue called NAME, or None."""
    reply = system_call(
        upstream, "queues.get_all", {"name": f"^{re.escape(name)}$", "only_fields": ["id", "name"]}
    )
    for queue in _ok(reply, "queues").get("queues", []):
        if queue.get("name") == name:
            return queue["id"]
    return None


# --- jobs of real tasks -----------------------------------------------------------------------------


LIVE = (JobState.PENDING, JobState.RUNNING)


def _pending_values(queue: Queue, seq: int, enqueued_at) -> dict:
    return {
        **pending_values(queue, seq, enqueued_at),
        "upstream": True,
        "upstream_action": UpstreamAction.NONE,
        "action_attempts": 0,
        "action_error": "",
        "action_due_at": None,
        "moved_at": None,
        "upstream_status": "queued",
    }


def _record_one(workspace: Workspace, task_id: str, values: dict, creator, name: str = "") -> Job:
    """The job of TASK_ID made pending with VALUES: its pending job if it has one, else its latest
    job that is not running, else a new one. A pending job of a task is unique (a partial unique
    index), so a concurrent recording of the same task (the gateway's and the reconciliation's)
    updates the row the other one made instead of adding a second."""
    jobs = Job.objects.for_workspace(workspace).select_for_update().filter(task_id=task_id)
    job = jobs.filter(state=JobState.PENDING, upstream=True).first()
    if job is None:
        job = jobs.exclude(state=JobState.RUNNING).order_by("-id").first()
    if job is None:
        try:
            with transaction.atomic():
                return Job.objects.create(
                    workspace=workspace,
                    name=name or task_id,
                    task_id=task_id,
                    created_by=creator if getattr(creator, "pk", None) else None,
                    **values,
                )
        except IntegrityError:  # recorded by someone else meanwhile
            job = jobs.filter(state=JobState.PENDING, upstream=True).get()
    Job.objects.filter(pk=job.pk).update(**values)
    job.refresh_from_db()
    return job


@transaction.atomic
def jobs_record(*, workspace: Workspace, actor, queue: Queue, task_ids: Iterable[str]) -> list[Job]:
    """Tasks the server queued into QUEUE's policy queue: pending jobs at the end of QUEUE.

    A task with a pending job already (enqueued again, maybe into another policy queue) goes to
    the end of QUEUE; a finished or draft job of the task is reused.
    """
    task_ids = [t for t in dict.fromkeys(task_ids) if t]
    now = timezone.now()
    recorded = []
    for task_id, seq in zip(task_ids, job_seqs_next(len(task_ids)), strict=True):
        recorded.append(_record_one(workspace, task_id, _pending_values(queue, seq, now), actor))
    schedule_soon(workspace)
    return recorded


def _unrecorded(workspace: Workspace, task_ids: list[str]) -> list[str]:
    """Those of TASK_IDS the portal has no job for that is live or has an upstream action left."""
    known: set[str] = set()
    for start in range(0, len(task_ids), ADOPT_CHUNK):
        chunk = task_ids[start : start + ADOPT_CHUNK]
        known.update(
            Job.objects.for_workspace(workspace)
            .filter(task_id__in=chunk)
            .filter(Q(state__in=LIVE) | ~Q(upstream_action=""))
            .values_list("task_id", flat=True)
        )
    return [t for t in task_ids if t not in known]


def jobs_adopt(workspace: Workspace) -> list[Job]:
    """Tasks queued in a policy queue that have no job: recorded as pending jobs (the safety net
    behind the gateway's record, which runs only after the server accepted the enqueue: a crash
    or a database error between the two left the task queued where no agent serves it).

    One `queues.get_all` of the policy queues with their entries; for the tasks no live job knows,
    one `tasks.get_all` (still queued in that queue? whose?). The owner is the portal user the
    task's upstream user is mapped to, and must be in the policy's user group (as the gateway's
    check would have required); a task of anybody else is left where it is, logged. Enqueue time:
    the entry's `added`; order: by that time, at the end of each queue. Idempotent: a task with a
    live job is skipped, under the scheduler lock; a pending job of a task is unique."""
    upstream = upstream_of(workspace)
    if upstream is None:
        return []
    rows = {
        r.upstream_id: r
        for r in UpstreamQueue.objects.for_workspace(workspace)
        .filter(kind=UpstreamQueueKind.POLICY, queue__isnull=False)
        .exclude(upstream_id="")
        .select_related("queue__policy")
    }
    if not rows:
        return []
    try:
        listed = _ok(
            system_call(upstream, "queues.get_all", {"id": sorted(rows), "only_fields": ["id", "entries"]}),
            "queues",
        ).get("queues", [])
        entries: dict[str, tuple[str, object]] = {}
        for listed_queue in listed:
            if listed_queue.get("id") not in rows:
                continue
            for entry in listed_queue.get("entries") or []:
                if isinstance(entry, dict) and isinstance(entry.get("task"), str) and entry["task"]:
                    added = parse_datetime(str(entry.get("added") or "")) or timezone.now()
                    entries.setdefault(entry["task"], (listed_queue["id"], added))
        unknown = _unrecorded(workspace, list(entries))
        if not unknown:
            return []
        tasks = {}
        for start in range(0, len(unknown), RECONCILE_BATCH):
            reply = system_call(
                upstream,
                "tasks.get_all",
                {
                    "id": unknown[start : start + RECONCILE_BATCH],
                    "only_fields": ["id", "name", "user", "status", "execution.queue"],
                },
            )
            tasks.update({t["id"]: t for t in _ok(reply, "tasks").get("tasks", [])})
    except (UpstreamUnavailable, UpstreamError, gateway.ProvisioningFailed) as exc:
        logger.warning("adopting the queued tasks of %s: %s", workspace.pk, exc)
        return []
    found = []
    for task_id in unknown:
        task = tasks.get(task_id) or {}
        queue_id, added = entries[task_id]
        if task.get("status") == "queued" and (task.get("execution") or {}).get("queue") == queue_id:
            found.append((added, task_id, rows[queue_id].queue, task))
    found.sort(key=lambda f: (f[0], f[1]))
    adopted = []
    with transaction.atomic():
        lock_workspace(workspace)
        still = set(_unrecorded(workspace, [f[1] for f in found]))
        found = [f for f in found if f[1] in still]
        for (added, task_id, queue, task), seq in zip(found, job_seqs_next(len(found)), strict=True):
            owner = _owner_in_group(workspace, upstream, task.get("user"), queue)
            if owner is None:
                logger.warning(
                    "task %s is queued in the policy queue %r but its owner is not in the policy's group",
                    task_id,
                    queue.name,
                )
                continue
            values = _pending_values(queue, seq, added)
            job = _record_one(workspace, task_id, values, owner, name=(task.get("name") or "")[:255])
            Job.objects.filter(pk=job.pk).update(created_by=owner)
            adopted.append(job)
            logger.warning("task %s was queued in %r without a job: adopted", task_id, queue.name)
    if adopted:
        schedule_soon(workspace)
    return adopted


def strays_stop(workspace: Workspace) -> int:
    """Tasks queued in an agent queue whose job is over: taken out again (how many).

    Only the scheduler puts tasks into agent queues, but the server has no compare-and-set: a
    user stopping (or dequeuing) a task at the moment the outbox moves it sees it queued again
    in the agent queue, its job already aborted (or back to draft), so an agent would run it
    uncounted. One `queues.get_all` of the agent queues with their entries; a task whose latest
    job is aborted or draft with nothing left in the outbox, and that `tasks.get_all` says is
    still queued there, is dequeued again (its job ended as `created`: dequeued or reset) or
    stopped again. A task with no job (put there straight on the server, not through the
    gateway) is only logged."""
    upstream = upstream_of(workspace)
    if upstream is None:
        return 0
    agent_ids = set(
        UpstreamQueue.objects.for_workspace(workspace)
        .filter(kind=UpstreamQueueKind.AGENT)
        .exclude(upstream_id="")
        .values_list("upstream_id", flat=True)
    )
    if not agent_ids:
        return 0
    try:
        listed = _ok(
            system_call(
                upstream, "queues.get_all", {"id": sorted(agent_ids), "only_fields": ["id", "entries"]}
            ),
            "queues",
        ).get("queues", [])
    except (UpstreamUnavailable, UpstreamError, gateway.ProvisioningFailed) as exc:
        logger.warning("checking the agent queues of %s: %s", workspace.pk, exc)
        return 0
    queued = {
        entry["task"]: listed_queue["id"]
        for listed_queue in listed
        if listed_queue.get("id") in agent_ids
        for entry in listed_queue.get("entries") or []
        if isinstance(entry, dict) and isinstance(entry.get("task"), str)
    }
    latest: dict[str, tuple[int, str, str, str]] = {}
    task_ids = list(queued)
    for start in range(0, len(task_ids), ADOPT_CHUNK):
        for pk, task_id, state, action, status in (
            Job.objects.for_workspace(workspace)
            .filter(task_id__in=task_ids[start : start + ADOPT_CHUNK], upstream=True)
            .values_list("pk", "task_id", "state", "upstream_action", "upstream_status")
        ):
            if task_id not in latest or latest[task_id][0] < pk:
                latest[task_id] = (pk, state, action, status)
    for task_id in task_ids:
        if task_id not in latest:
            logger.warning("task %s is in an agent queue but the portal has no job for it", task_id)
    # Dequeued or reset (back to `created`): dequeued again; stopped or aborted: stopped again.
    strays = {
        t: "dequeue" if status == "created" else "stop"
        for t, (_pk, state, action, status) in latest.items()
        if state in (JobState.ABORTED, JobState.DRAFT) and not action
    }
    if not strays:
        return 0
    taken = 0
    try:
        reply = system_call(
            upstream,
            "tasks.get_all",
            {"id": sorted(strays), "only_fields": ["id", "status", "execution.queue"]},
        )
        for task in _ok(reply, "tasks").get("tasks", []):
            task_id = task.get("id")
            if task.get("status") != "queued" or (task.get("execution") or {}).get("queue") != queued.get(
                task_id
            ):
                continue
            if strays[task_id] == "dequeue":
                call = system_call(upstream, "tasks.dequeue", {"task": task_id})
            else:
                call = system_call(
                    upstream,
                    "tasks.stop",
                    {"task": task_id, "force": True, "status_reason": "aborted in the portal"},
                )
            if call.ok:
                taken += 1
                logger.warning("task %s was queued again after its job ended: taken out", task_id)
    except (UpstreamUnavailable, UpstreamError, gateway.ProvisioningFailed) as exc:
        logger.warning("taking stray tasks out of the agent queues of %s: %s", workspace.pk, exc)
    return taken


def _owner_in_group(workspace: Workspace, upstream: Upstream, upstream_user, queue: Queue):
    """The portal user behind UPSTREAM_USER if they are in the user group of QUEUE's policy."""
    if not isinstance(upstream_user, str) or not upstream_user:
        return None
    user_hex = gateway.portal_user_for(upstream, upstream_user)
    user = User.objects.filter(pk=user_hex).first() if user_hex else None
    policy = queue.policy
    if user is None or policy.group_id is None:
        return None
    return user if policy.group_id in user_group_ids(workspace=workspace, user=user) else None


def _finish(job_ids: list[int], state: str, *, status: str = "") -> int:
    """Running or pending jobs (JOB_IDS) are over: their resources are free."""
    if not job_ids:
        return 0
    values = {"state": state, "finished_at": timezone.now(), "upstream_action": UpstreamAction.NONE}
    if status:
        values["upstream_status"] = status
    if state == JobState.DRAFT:
        values.update(queue=None, policy=None, profile=None, seq=None, enqueued_at=None, finished_at=None)
    return Job.objects.filter(pk__in=job_ids, state__in=LIVE).update(**values)


def job_observed(*, workspace: Workspace, task_ids: Iterable[str], event: str, response: dict | None) -> int:
    """The gateway saw a call EVENT ("started", "completed", ...) on TASK_IDS succeed.

    Finishing a job frees its resources and asks for a pass at once. Returns the jobs changed.
    """
    task_ids = [t for t in task_ids if isinstance(t, str) and t]
    if not task_ids:
        return 0
    jobs = list(
        Job.objects.for_workspace(workspace)
        .filter(task_id__in=task_ids, state__in=LIVE, upstream=True)
        .values_list("pk", "state")
    )
    if not jobs:
        return 0
    fields = ((response or {}).get("data") or {}).get("fields") or {}
    new_status = fields.get("status") if isinstance(fields, dict) else None
    running = [pk for pk, state in jobs if state == JobState.RUNNING]
    pending = [pk for pk, state in jobs if state == JobState.PENDING]
    changed = 0
    if event == "started":
        now = timezone.now()
        changed = Job.objects.filter(pk__in=running, fetched_at__isnull=True).update(fetched_at=now)
        Job.objects.filter(pk__in=running).update(upstream_status="in_progress")
        if pending:  # taken straight from a policy queue: counted (see _count_unadmitted)
            changed += reconcile_jobs(workspace, Job.objects.filter(pk__in=pending, upstream_action=""))
        return changed
    if event in ("completed", "failed"):
        changed = _finish(running + pending, JobState.COMPLETED, status=event)
    elif event in ("stopped", "stop"):
        if event == "stop" and new_status not in (None, "stopped"):
            return 0  # a running task asked to stop: its agent reports `stopped` later
        changed = _finish(running + pending, JobState.ABORTED, status="stopped")
    elif event in ("dequeue", "reset", "delete"):
        if event == "dequeue" and new_status in RUNNING_STATUSES:
            return 0  # the agent's own dequeue as it takes the task
        status = {"delete": "deleted", "reset": "created"}.get(event, new_status or "created")
        # Admitted (maybe not yet started): its resources are free; waiting: back to draft.
        changed = _finish(running, JobState.ABORTED, status=status) + _finish(
            pending, JobState.DRAFT, status=status
        )
    if changed:
        schedule_soon(workspace)
    return changed


# --- the outbox ---------------------------------------------------------------------------------------


@dataclass
class DrainResult:
    moved: int = 0
    stopped: int = 0
    retry: int = 0
    gone: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.moved + self.stopped + self.gone


def agent_queues(workspace: Workspace) -> dict[tuple[int, int], str]:
    """(profile id, pool id) -> the upstream id of that connection's agent queue."""
    return {
        (profile_id, pool_id): upstream_id
        for profile_id, pool_id, upstream_id in UpstreamQueue.objects.for_workspace(workspace)
        .filter(link__isnull=False)
        .exclude(upstream_id="")
        .values_list("link__profile_id", "link__pool_id", "upstream_id")
    }


def outbox_drain(
    workspace: Workspace, *, batch: int = DRAIN_BATCH, threads: int = DRAIN_THREADS
) -> DrainResult:
    """Execute the outbox of WORKSPACE until it is empty or the server stops answering."""
    total = DrainResult()
    upstream = upstream_of(workspace)
    if upstream is None:
        return total
    synced = False
    while True:
        result = _drain_batch(workspace, upstream, batch=batch, threads=threads)
        total.moved += result.moved
        total.stopped += result.stopped
        total.gone += result.gone
        total.retry += result.retry
        total.errors += result.errors
        if result.retry and not synced and any("agent queue" in e for e in result.errors):
            queues_sync(workspace)  # a connection's queue is missing: make it, then retry once
            synced = True
            continue
        if not result.done:
            return total


def _drain_batch(workspace: Workspace, upstream: Upstream, *, batch: int, threads: int) -> DrainResult:
    result = DrainResult()
    with transaction.atomic():
        rows = list(
            Job.objects.for_workspace(workspace)
            .select_for_update(skip_locked=True)
            .exclude(upstream_action="")
            .filter(Q(action_due_at__isnull=True) | Q(action_due_at__lte=timezone.now()))
            .order_by("started_at", "id")
            .values_list(
                "pk", "task_id", "state", "upstream_action", "profile_id", "pool_id", "action_attempts"
            )[:batch]
        )
        if not rows:
            return result
        targets = agent_queues(workspace)
        attempts = {row[0]: row[-1] for row in rows}
        work = []
        for pk, task_id, state, action, profile_id, pool_id, _attempts in rows:
            if action == UpstreamAction.MOVE and state != JobState.RUNNING:
                work.append((pk, task_id, "skip", None))
            elif action == UpstreamAction.MOVE:
                work.append((pk, task_id, "move", targets.get((profile_id, pool_id))))
            else:
                work.append((pk, task_id, "stop", None))
        outcomes = _execute_all(upstream, work, threads=threads)
        now = timezone.now()
        done, freed, reconcile = [], [], []
        failed: dict[str, list[int]] = {}
        for (pk, _task, _kind, _target), (outcome, message) in zip(work, outcomes, strict=True):
            if outcome in ("moved", "stopped", "skip"):
                done.append(pk)
                result.moved += outcome == "moved"
                result.stopped += outcome == "stopped"
            elif outcome == "gone":
                freed.append(pk)
                result.gone += 1
            elif outcome == "check":
                reconcile.append(pk)
                result.gone += 1
            else:
                failed.setdefault(message[:500], []).append(pk)
                result.retry += 1
                result.errors.append(message)
        moved_ids = [
            pk for (pk, _t, kind, _q), (outcome, _m) in zip(work, outcomes, strict=True) if outcome == "moved"
        ]
        Job.objects.filter(pk__in=done).update(upstream_action="", action_error="", action_due_at=None)
        Job.objects.filter(pk__in=moved_ids).update(moved_at=now, upstream_status="queued")
        Job.objects.filter(pk__in=reconcile).update(upstream_action="")
        if freed:
            Job.objects.filter(pk__in=freed).update(upstream_action="")
            if _finish(freed, JobState.ABORTED, status="deleted"):
                schedule_soon(workspace)
        for message, pks in failed.items():
            for pk in pks:
                tried = attempts[pk] + 1
                Job.objects.filter(pk=pk).update(
                    action_attempts=tried, action_error=message, action_due_at=now + retry_delay(tried)
                )
    if reconcile:
        reconcile_jobs(workspace, Job.objects.filter(pk__in=reconcile))
    return result


def _execute_all(upstream: Upstream, work: list[tuple], *, threads: int) -> list[tuple[str, str]]:
    """The outcomes of WORK, in its order. Moves into one agent queue go in admission order (the
    queue's entries are FIFO for its agents), MOVE_CHUNK at a time with one `tasks.enqueue_many`;
    queues (and stops) go in parallel."""
    lanes: dict[object, list[int]] = {}
    for i, (_pk, _task, kind, target) in enumerate(work):
        lanes.setdefault(target if kind == "move" and target else ("one", i), []).append(i)
    outcomes: list[tuple[str, str]] = [("retry", "")] * len(work)

    def run(indexes: list[int]) -> None:
        kind, target = work[indexes[0]][2], work[indexes[0]][3]
        if kind == "move" and target and len(indexes) > 1:
            for start in range(0, len(indexes), MOVE_CHUNK):
                chunk = indexes[start : start + MOVE_CHUNK]
                for i, outcome in zip(
                    chunk, _move_many(upstream, [work[i][1] for i in chunk], target), strict=True
                ):
                    outcomes[i] = outcome
            return
        for i in indexes:
            outcomes[i] = _execute(upstream, *work[i][1:])

    if threads > 1 and len(lanes) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(lanes))) as pool:
            list(pool.map(run, lanes.values()))
    else:
        for indexes in lanes.values():
            run(indexes)
    return outcomes


MOVE_REASON = {"status_reason": "admitted", "status_message": "moved to its pool by the portal's scheduler"}


def _move_many(upstream: Upstream, task_ids: list[str], target: str) -> list[tuple[str, str]]:
    """Move TASK_IDS into the agent queue TARGET in one call (one by one on a server without
    tasks.enqueue_many); an outcome per task."""
    try:
        reply = system_call(upstream, "tasks.enqueue_many", {"ids": task_ids, "queue": target, **MOVE_REASON})
    except (UpstreamUnavailable, gateway.ProvisioningFailed) as exc:
        return [("retry", str(exc))] * len(task_ids)
    if reply.status == 404:
        return [_execute(upstream, task_id, "move", target) for task_id in task_ids]
    if not reply.ok:
        return [_outcome(reply, "move")] * len(task_ids)
    done = {s.get("id") for s in reply.data.get("succeeded", []) if isinstance(s, dict)}
    errors = {f.get("id"): f.get("error") or {} for f in reply.data.get("failed", []) if isinstance(f, dict)}
    outcomes = []
    for task_id in task_ids:
        if task_id in done:
            outcomes.append(("moved", ""))
            continue
        error = errors.get(task_id, {})
        codes = error.get("codes") or [400, 0]
        fake = Reply(
            int(codes[0]), {"meta": {"result_subcode": codes[-1], "result_msg": error.get("msg", "")}}
        )
        outcomes.append(_outcome(fake, "move"))
    return outcomes


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after its ATTEMPTS-th failure: 1, 2, 4, ... seconds, at most a minute."""
    return timedelta(seconds=min(2 ** (attempts - 1), MAX_RETRY_SECONDS))


def _execute(upstream: Upstream, task_id: str, kind: str, target: str | None) -> tuple[str, str]:
    """One outbox row against the server: (outcome, message)."""
    if kind == "skip":
        return "skip", ""
    try:
        if kind == "move":
            if not target:
                return "retry", "the connection's agent queue is not on the server yet"
            reply = system_call(upstream, "tasks.enqueue", {"task": task_id, "queue": target, **MOVE_REASON})
            if reply.ok:
                return "moved", ""
        else:
            reply = system_call(
                upstream,
                "tasks.stop",
                {"task": task_id, "status_reason": "aborted in the portal", "force": True},
            )
            if reply.ok:
                return "stopped", ""
    except (UpstreamUnavailable, gateway.ProvisioningFailed) as exc:
        return "retry", str(exc)
    return _outcome(reply, kind)


def _outcome(reply: Reply, kind: str) -> tuple[str, str]:
    """What a failed move or stop means for its outbox row."""
    code = _subcode(reply)
    if reply.status == 400 and code == 101:
        return "gone", reply.message  # the task was deleted upstream
    if reply.status == 400 and code == 701:
        return "retry", f"the connection's agent queue is gone: {reply.message}"
    if reply.status == 400 and kind == "stop":
        return "stopped", reply.message  # already stopped, completed, ...: nothing to stop
    if reply.status == 400:
        return "check", reply.message  # an invalid status change: ask what the task is doing
    return "retry", reply.message


# --- reconciliation ----------------------------------------------------------------------------------


def reconcile(workspace: Workspace) -> int:
    """Compare every live job of a real task with the server (tasks.get_all by ids); how many changed."""
    qs = Job.objects.for_workspace(workspace).filter(upstream=True, state__in=LIVE, upstream_action="")
    return reconcile_jobs(workspace, qs)


def reconcile_jobs(workspace: Workspace, qs) -> int:
    upstream = upstream_of(workspace)
    if upstream is None:
        return 0
    rows = list(qs.values_list("pk", "task_id", "state", "fetched_at", "name", "project_name"))
    changed = 0
    policy_queues = {
        r.upstream_id
        for r in UpstreamQueue.objects.for_workspace(workspace).filter(kind=UpstreamQueueKind.POLICY)
    }
    for start in range(0, len(rows), RECONCILE_BATCH):
        chunk = rows[start : start + RECONCILE_BATCH]
        try:
            reply = system_call(
                upstream,
                "tasks.get_all",
                {
                    "id": [r[1] for r in chunk],
                    "only_fields": ["id", "name", "status", "project", "execution.queue", "last_worker"],
                },
            )
            tasks = {t["id"]: t for t in _ok(reply, "tasks").get("tasks", [])}
        except (UpstreamUnavailable, UpstreamError, gateway.ProvisioningFailed) as exc:
            logger.warning("reconciling the jobs of %s: %s", workspace.pk, exc)
            return changed
        projects = _project_names(upstream, {t.get("project") for t in tasks.values() if t.get("project")})
        now = timezone.now()
        finish: dict[tuple[str, str], list[int]] = {}
        seen: list[Job] = []
        taken: set[int] = set()  # first seen running here
        unadmitted: dict[int, str] = {}  # pending, yet running: pk -> its worker
        for pk, task_id, state, fetched_at, name, project_name in chunk:
            task = tasks.get(task_id)
            if task is None:
                finish.setdefault(
                    (JobState.ABORTED if state == JobState.RUNNING else JobState.DRAFT, "deleted"), []
                ).append(pk)
                continue
            status = task.get("status", "")
            queue = (task.get("execution") or {}).get("queue")
            updates = {"upstream_status": status, "checked_at": now}
            if task.get("name") and task["name"] != name:
                updates["name"] = task["name"][:255]
            if task.get("project") in projects and projects[task["project"]] != project_name:
                updates["project_name"] = projects[task["project"]][:255]
            if status in DONE_STATUSES:
                finish.setdefault((JobState.COMPLETED, status), []).append(pk)
            elif status in STOPPED_STATUSES:
                finish.setdefault((JobState.ABORTED, status), []).append(pk)
            elif status in RUNNING_STATUSES:
                if state == JobState.PENDING:
                    # Run without an admission (an agent served the policy queue): counted.
                    unadmitted[pk] = (task.get("last_worker") or "")[:255]
                elif fetched_at is None:
                    updates["fetched_at"] = now
                    updates["worker"] = (task.get("last_worker") or "")[:255]
                    taken.add(pk)
            elif status == "queued":
                if state == JobState.PENDING and queue not in policy_queues:
                    finish.setdefault((JobState.DRAFT, status), []).append(pk)  # moved elsewhere
            else:  # created: dequeued or reset
                finish.setdefault(
                    (JobState.ABORTED if state == JobState.RUNNING else JobState.DRAFT, status), []
                ).append(pk)
            seen.append(
                Job(
                    pk=pk,
                    name=updates.get("name", name),
                    project_name=updates.get("project_name", project_name),
                    upstream_status=status,
                    checked_at=now,
                    fetched_at=updates.get("fetched_at", fetched_at),
                    worker=updates.get("worker", ""),
                )
            )
        with transaction.atomic():
            _write_seen(seen, taken, now)
            for (state, status), pks in finish.items():
                changed += _finish(pks, state, status=status)
        if unadmitted:
            changed += _count_unadmitted(workspace, upstream, unadmitted, now)
    if changed:
        schedule_soon(workspace)
    return changed


def _count_unadmitted(workspace: Workspace, upstream: Upstream, unadmitted: dict[int, str], now) -> int:
    """Pending jobs whose tasks run (an agent took them straight from the policy queue, which the
    scheduler never admitted): counted as running, so that the policy's reservation and limit and
    the pool's capacity stay honest; their resources are freed when the task finishes, as any.

    Allotment: the profile's. Pool: the one whose agent queue the same worker serves (the job's
    profile's connection first), as `workers.get_all` says; none if the worker serves no agent
    queue (then only the policy counts it: no pool's capacity is known to be used). The outbox
    has nothing to move. How many jobs changed."""
    pools = _worker_pools(workspace, upstream, set(unadmitted.values()) - {""})
    changed = 0
    with transaction.atomic():
        lock_workspace(workspace)
        jobs = (
            Job.objects.filter(pk__in=list(unadmitted), state=JobState.PENDING)
            .select_related("profile")
            .select_for_update(of=("self",))
        )
        for job in jobs:
            worker = unadmitted[job.pk]
            by_profile = pools.get(worker, {})
            pool_id = by_profile.get(job.profile_id)
            if pool_id is None and len(set(by_profile.values())) == 1:
                pool_id = next(iter(by_profile.values()))
            pool_name = Pool.objects.filter(pk=pool_id).values_list("name", flat=True).first() or ""
            changed += Job.objects.filter(pk=job.pk, state=JobState.PENDING).update(
                state=JobState.RUNNING,
                pool_id=pool_id,
                pool_name=pool_name,
                allotment=job.profile.allotment if job.profile else None,
                started_at=now,
                fetched_at=now,
                worker=worker,
                upstream_status="in_progress",
                upstream_action=UpstreamAction.NONE,
            )
            logger.warning(
                "task %s runs from the policy queue %r without an admission (worker %r): counted on %s",
                job.task_id,
                job.queue_name,
                worker,
                pool_name or "no pool",
            )
    return changed


def _worker_pools(workspace: Workspace, upstream: Upstream, workers: set[str]) -> dict[str, dict[int, int]]:
    """WORKERS -> {profile id: pool id} of the agent queues each serves (one workers.get_all)."""
    if not workers:
        return {}
    try:
        reply = system_call(upstream, "workers.get_all", {})
    except (UpstreamUnavailable, gateway.ProvisioningFailed):
        return {}
    if not reply.ok:
        return {}
    connections = {
        upstream_id: (profile_id, pool_id)
        for upstream_id, profile_id, pool_id in UpstreamQueue.objects.for_workspace(workspace)
        .filter(link__isnull=False)
        .exclude(upstream_id="")
        .values_list("upstream_id", "link__profile_id", "link__pool_id")
    }
    found: dict[str, dict[int, int]] = {}
    for worker in reply.data.get("workers") or []:
        if not isinstance(worker, dict) or worker.get("id") not in workers:
            continue
        for served in worker.get("queues") or []:
            queue_id = served.get("id") if isinstance(served, dict) else served
            if queue_id in connections:
                profile_id, pool_id = connections[queue_id]
                found.setdefault(worker["id"], {}).setdefault(profile_id, pool_id)
    return found


def _write_seen(seen: list[Job], taken: set[int], now) -> None:
    """What reconciliation saw, in one statement (PostgreSQL) or a bulk update."""
    if not seen:
        return
    if connection.vendor != "postgresql":
        fields = ["name", "project_name", "upstream_status", "checked_at"]
        Job.objects.bulk_update([j for j in seen if j.pk not in taken], fields, batch_size=500)
        Job.objects.bulk_update(
            [j for j in seen if j.pk in taken], [*fields, "fetched_at", "worker"], batch_size=500
        )
        return
    table = Job._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS j SET name = v.name, project_name = v.project, upstream_status = v.status, "  # noqa: S608
            "checked_at = %s, fetched_at = CASE WHEN v.taken THEN %s ELSE j.fetched_at END, "
            "worker = CASE WHEN v.taken THEN v.worker ELSE j.worker END "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::boolean[], %s::text[]) "
            "AS v(id, name, project, status, taken, worker) WHERE j.id = v.id",
            [
                now,
                now,
                [j.pk for j in seen],
                [j.name for j in seen],
                [j.project_name for j in seen],
                [j.upstream_status for j in seen],
                [j.pk in taken for j in seen],
                [j.worker for j in seen],
            ],
        )


def describe_new(workspace: Workspace) -> int:
    """Name, project and status of the jobs recorded since the last look (one tasks.get_all)."""
    qs = Job.objects.for_workspace(workspace).filter(upstream=True, state__in=LIVE, checked_at__isnull=True)
    pks = list(qs.values_list("pk", flat=True)[:RECONCILE_BATCH])
    if not pks:
        return 0
    return reconcile_jobs(workspace, Job.objects.filter(pk__in=pks, upstream_action=""))


def _project_names(upstream: Upstream, ids: set) -> dict[str, str]:
    if not ids:
        return {}
    try:
        reply = system_call(upstream, "projects.get_all", {"id": sorted(ids), "only_fields": ["id", "name"]})
    except (UpstreamUnavailable, gateway.ProvisioningFailed):
        return {}
    return {p["id"]: p.get("name", "") for p in reply.data.get("projects", [])} if reply.ok else {}
