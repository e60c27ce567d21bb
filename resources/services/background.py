"""Asking for background work once a change has committed: a scheduling pass, or the outbox.

The services call these; the Celery tasks (resources.tasks) call the services. So that the two
never import each other, the tasks are looked up here by name in the Celery app's registry
(resources.apps imports resources.tasks at start-up: every process has them registered).

In the embedded default (eager Celery) the work runs at once, in-process; a failure is logged and
left to the beat, since the change that asked for it is already committed. With a broker,
`request_schedule` sends one task, debounced through the database: while a task for the workspace
is waiting, further requests fold into it (the task clears the mark before it reads anything, so
a change committed after that sends a new task). A mark older than DEBOUNCE_SECONDS is ignored, so
a lost task delays passes by seconds, not forever; the beat (`schedule_all`) is the safety net.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.db.models import Q
from django.utils import timezone

from ..models import ResourceSettings

DEBOUNCE_SECONDS = 5
SCHEDULE_TASK = "resources.schedule_workspace"
DRAIN_TASK = "resources.drain_workspace"
logger = logging.getLogger(__name__)


def _task(name: str):
    return current_app.tasks[name]


def request_schedule(workspace_id: str) -> None:
    """A scheduling pass of WORKSPACE_ID soon (now, when eager)."""
    task = _task(SCHEDULE_TASK)
    if task.app.conf.task_always_eager:
        try:
            task.apply(args=[workspace_id], kwargs={"debounced": False}, throw=True)
        except Exception:
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
        task.delay(workspace_id)


def request_drain(workspace_id: str) -> None:
    """The outbox of WORKSPACE_ID executed now (in-process when eager, else a task)."""
    task = _task(DRAIN_TASK)
    if task.app.conf.task_always_eager:
        try:
            task.apply(args=[workspace_id], throw=True)
        except Exception:
            logger.exception("the outbox of workspace %s failed", workspace_id)
        return
    task.delay(workspace_id)
