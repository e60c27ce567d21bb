"""Celery tasks of the scheduler: thin wrappers around resources.scheduler.

`request_schedule` is what the services call after a change commits: in the
embedded default (eager Celery) the pass runs at once in-process; with a broker it
sends one task, debounced through the database: while a task for the workspace is
waiting, further requests fold into it (the task clears the mark before it reads
anything, so a change committed after that sends a new task). A mark older than
DEBOUNCE_SECONDS is ignored, so a lost task delays passes by seconds, not forever;
the beat (`schedule_all`) is the safety net behind that.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from workspaces.models import Workspace

from . import scheduler
from .models import ResourceSettings

DEBOUNCE_SECONDS = 5
logger = logging.getLogger(__name__)


def request_schedule(workspace_id: str) -> None:
    if schedule_workspace.app.conf.task_always_eager:
        try:
            schedule_workspace.apply(args=[workspace_id], kwargs={"debounced": False}, throw=True)
        except Exception:
            # The change that asked for the pass is committed; the beat will retry the pass.
            logger.exception("scheduling pass of workspace %s failed", workspace_id)
        return
    now = timezone.now()
    marked = (
        ResourceSettings.objects.dangerously_all()
        .filter(workspace_id=workspace_id)
        .filter(
            Q(schedule_requested_at__isnull=True)
            | Q(schedule_requested_at__lt=now - timedelta(seconds=DEBOUNCE_SECONDS))
        )
        .update(schedule_requested_at=now)
    )
    if marked or not ResourceSettings.objects.dangerously_all().filter(workspace_id=workspace_id).exists():
        schedule_workspace.delay(workspace_id)


@shared_task(name="resources.schedule_workspace", acks_late=True, ignore_result=True)
def schedule_workspace(workspace_id: str, debounced: bool = True) -> int:
    """One scheduling run (passes until idle) of a workspace; how many jobs it admitted."""
    if debounced:
        ResourceSettings.objects.dangerously_all().filter(workspace_id=workspace_id).update(
            schedule_requested_at=None
        )
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    return run_workspace(workspace)


def run_workspace(workspace: Workspace, *, describe: bool = True) -> int:
    """A scheduling run; on a linked server also its queues made (if the configuration changed)
    and the admissions moved upstream (the outbox), then (DESCRIBE) the names, projects and
    statuses of newly recorded tasks read for the pages. How many jobs it admitted."""
    from .services import upstream

    linked = upstream.upstream_of(workspace) is not None
    if linked:
        upstream.queues_sync(workspace, verify=False)
    admitted = len(scheduler.schedule_until_idle(workspace))
    if linked:
        upstream.outbox_drain(workspace)
        if describe:
            upstream.describe_new(workspace)
    return admitted


def request_drain(workspace_id: str) -> None:
    """Execute the outbox of a workspace now (in-process when eager, else a task)."""
    if drain_workspace.app.conf.task_always_eager:
        try:
            drain_workspace.apply(args=[workspace_id], throw=True)
        except Exception:
            logger.exception("the outbox of workspace %s failed", workspace_id)
        return
    drain_workspace.delay(workspace_id)


@shared_task(name="resources.drain_workspace", acks_late=True, ignore_result=True)
def drain_workspace(workspace_id: str) -> int:
    from .services import upstream

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    return upstream.outbox_drain(workspace).done


@shared_task(name="resources.drain_all", ignore_result=True)
def drain_all() -> int:
    """The beat: every workspace's outbox (moves and stops an earlier run could not do)."""
    from .models import Job

    done = 0
    for workspace_id in (
        Job.objects.dangerously_all()
        .exclude(upstream_action="")
        .values_list("workspace_id", flat=True)
        .distinct()
    ):
        done += drain_workspace(str(workspace_id))
    return done


@shared_task(name="resources.reconcile_all", ignore_result=True)
def reconcile_all() -> int:
    """The beat: every linked workspace's queues checked on the server, the tasks queued in its
    policy queues without a job adopted, its live jobs compared with their tasks (what
    happened elsewhere: the web app, the watchdog, deletions), and tasks queued again in an
    agent queue after their jobs ended taken out."""
    from gateway.models import UpstreamLink

    from .services import upstream

    changed = 0
    for workspace_id in UpstreamLink.objects.dangerously_all().values_list("workspace_id", flat=True):
        workspace = Workspace.objects.filter(pk=workspace_id).first()
        if (
            workspace is None
            or not ResourceSettings.objects.dangerously_all().filter(workspace=workspace).exists()
        ):
            continue
        upstream.queues_sync(workspace)
        upstream.outbox_drain(workspace)
        changed += len(upstream.jobs_adopt(workspace))
        changed += upstream.reconcile(workspace)
        upstream.strays_stop(workspace)
    return changed


@shared_task(name="resources.schedule_all", ignore_result=True)
def schedule_all() -> int:
    """The beat's safety net: a run for every workspace with resource management on."""
    admitted = 0
    for workspace_id in (
        ResourceSettings.objects.dangerously_all().filter(enabled=True).values_list("workspace_id", flat=True)
    ):
        workspace = Workspace.objects.filter(pk=workspace_id).first()
        if workspace is not None:
            admitted += run_workspace(workspace)
    return admitted
