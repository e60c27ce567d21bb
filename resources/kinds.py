"""The resources app's objects as Access Rules see them: queues, and the tasks (jobs) in them.

Registered with access.permissions from ResourcesConfig.ready(). A rule on a queue covers the
jobs queued in it (Job.queue is the parent); a job outside any queue is covered only by rules
on tasks.
"""

from django.db.models import Q
from django.db.models.functions import Lower

from access.kinds import ObjectKind
from access.models import AccessRule

from .models import Job, Queue


def _row_id(pk) -> int:
    """PK (a rule's object id, text) as a row id; anything that is not one names no row (-1)."""
    text = str(pk).strip()
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        return int(text)
    return -1


def queue_search(*, workspace, query: str = "", pk=None, limit: int = 50) -> list[tuple[int, str]]:
    """The queues of WORKSPACE whose name contains QUERY (or the one PK): [(id, name)]."""
    queues = Queue.objects.for_workspace(workspace)
    if pk is not None:
        queues = queues.filter(pk=_row_id(pk))
    if query:
        queues = queues.filter(name__icontains=query)
    return list(queues.order_by(Lower("name")).values_list("pk", "name")[:limit])


def queue_names(*, workspace, ids) -> dict[int, str]:
    return dict(Queue.objects.for_workspace(workspace).filter(pk__in=list(ids)).values_list("pk", "name"))


def task_search(*, workspace, query: str = "", pk=None, limit: int = 50) -> list[tuple[int, str]]:
    """The jobs of WORKSPACE whose name or task id contains QUERY (or the one PK), newest first:
    [(id, "name (queue)")]."""
    jobs = Job.objects.for_workspace(workspace)
    if pk is not None:
        jobs = jobs.filter(pk=_row_id(pk))
    if query:
        jobs = jobs.filter(Q(name__icontains=query) | Q(task_id__icontains=query))
    rows = jobs.order_by("-id").values_list("pk", "name", "queue_name")[:limit]
    return [(key, f"{name} ({queue})" if queue else name) for key, name, queue in rows]


def task_names(*, workspace, ids) -> dict[int, str]:
    return dict(Job.objects.for_workspace(workspace).filter(pk__in=list(ids)).values_list("pk", "name"))


QUEUE = ObjectKind(
    name=AccessRule.ResourceType.QUEUE.value,
    label=AccessRule.ResourceType.QUEUE.label,
    model=Queue,
    search=queue_search,
    names=queue_names,
)
TASK = ObjectKind(
    name=AccessRule.ResourceType.TASK.value,
    label=AccessRule.ResourceType.TASK.label,
    parent=QUEUE.name,
    model=Job,
    parent_field="queue",
    search=task_search,
    names=task_names,
)
