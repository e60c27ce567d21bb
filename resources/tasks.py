"""Celery tasks of the scheduler: thin wrappers around resources.scheduler and the services.

The services ask for these once a change commits through resources.services.background
(`request_schedule`, `request_drain`: debounced, or in-process when eager), which finds them by
name, so the services never import this module.
"""

import logging

from celery import shared_task

from gateway.models import UpstreamLink
from workspaces.models import Workspace

from . import scheduler
from .models import Job, ResourceSettings
from .services import upstream
from .services.background import request_drain, request_schedule  # noqa: F401  (the tasks' callers)

logger = logging.getLogger(__name__)


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
    linked = upstream.upstream_of(workspace) is not None
    if linked:
        upstream.queues_sync(workspace, verify=False)
    admitted = len(scheduler.schedule_until_idle(workspace))
    if linked:
        upstream.outbox_drain(workspace)
        if describe:
            upstream.describe_new(workspace)
    return admitted


@shared_task(name="resources.drain_workspace", acks_late=True, ignore_result=True)
def drain_workspace(workspace_id: str) -> int:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    return upstream.outbox_drain(workspace).done


@shared_task(name="resources.drain_all", ignore_result=True)
def drain_all() -> int:
    """The beat: every workspace's outbox (moves and stops an earlier run could not do)."""
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
