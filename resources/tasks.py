"""Celery tasks of the scheduler: thin wrappers around resources.scheduler.

`request_schedule` is what the services call after a change commits: in the
embedded default (eager Celery) the pass runs at once in-process; with a broker it
sends one task, debounced: while a task for the workspace is waiting, further
requests are folded into it (the task clears the flag before it reads anything, so
a change committed after that asks for a new pass).
"""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from workspaces.models import Workspace

from . import scheduler
from .models import ResourceSettings

DEBOUNCE_SECONDS = 5
logger = logging.getLogger(__name__)


def _flag(workspace_id: str) -> str:
    return f"resources:schedule-requested:{workspace_id}"


def request_schedule(workspace_id: str) -> None:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        try:
            schedule_workspace.apply(args=[workspace_id], kwargs={"debounced": False}, throw=True)
        except Exception:
            # The change that asked for the pass is committed; the beat will retry the pass.
            logger.exception("scheduling pass of workspace %s failed", workspace_id)
        return
    if cache.add(_flag(workspace_id), 1, timeout=DEBOUNCE_SECONDS):
        schedule_workspace.delay(workspace_id)


@shared_task(name="resources.schedule_workspace", acks_late=True, ignore_result=True)
def schedule_workspace(workspace_id: str, debounced: bool = True) -> int:
    """One scheduling run (passes until idle) of a workspace; how many jobs it admitted."""
    if debounced:
        cache.delete(_flag(workspace_id))
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
