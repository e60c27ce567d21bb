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
    return len(scheduler.schedule_until_idle(workspace))


@shared_task(name="resources.schedule_all", ignore_result=True)
def schedule_all() -> int:
    """The beat's safety net: a run for every workspace with resource management on."""
    admitted = 0
    for workspace_id in (
        ResourceSettings.objects.dangerously_all().filter(enabled=True).values_list("workspace_id", flat=True)
    ):
        workspace = Workspace.objects.filter(pk=workspace_id).first()
        if workspace is not None:
            admitted += len(scheduler.schedule_until_idle(workspace))
    return admitted
