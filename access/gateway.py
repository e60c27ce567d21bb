"""Access Rules at the gateway: every forwarded ClearML call is checked, and listings rewritten,
before it reaches the workspace's server (docs/gateway.md, "Access Rules at the gateway").

Registered from AccessConfig.ready() (`register`). For each call of a workspace with rules
(`wants`: no query otherwise):

- the caller's View (access/visibility.py); nothing else happens when no rule bears on them;
- listings and aggregates are narrowed (access/narrowing.py); what a listing's filter cannot
  leave out is taken out of the answer (access/answers.py);
- a by-id call on a hidden object gets the server's own answer for a missing one;
- writes need Read & Modify on the object (or what it inherits from): a Read Only caller gets
  403 naming the object and the rule that limits them; creates need it on the target project;
- queues: reading (listing, get_next_task) needs read, enqueueing modify; creating, deleting and
  renaming queues needs the `Queue admins` group (administrators included).

Objects' ancestors come from the server's project tree (access/upstream.py, kept per process for
seconds and dropped in every process when a forwarded call changes projects) and the parents of
tasks and models.
"""

from __future__ import annotations

from django.db.models import Q

from gateway.interception import Forwarded, after_forward, before_forward
from workspaces import revocation

from . import upstream as up
from .models import BuiltinGroup, GroupMembership
from .narrowing import (
    ONE_PROJECT_AGGREGATES,
    PROJECT_AGGREGATES,
    ids_with_joined_names,
    narrow_aggregate,
    narrow_children,
    narrow_one_project_aggregate,
    narrow_projects,
    narrow_queues,
)
from .permissions import MODIFY, READ
from .visibility import (
    MODEL,
    PROJECT,
    QUEUE,
    QUEUE_ADMIN,
    TASK,
    AccessRuleDenied,
    View,
    ids_of,
    need,
    need_project,
    rules_followed,
    rules_present,
    view_of,
    wants,
)

# --- the hooks -----------------------------------------------------------------------------------------

LISTINGS = {
    "projects.get_all": PROJECT,
    "projects.get_all_ex": PROJECT,
    "tasks.get_all": TASK,
    "tasks.get_all_ex": TASK,
    "tasks.get_by_id_ex": TASK,
    "models.get_all": MODEL,
    "models.get_all_ex": MODEL,
    "queues.get_all": QUEUE,
    "queues.get_all_ex": QUEUE,
}
# organization.get_entities_count: each field is a get_all filter over that kind.
ENTITY_COUNTS = {
    "projects": PROJECT,
    "pipelines": PROJECT,
    "datasets": PROJECT,
    "tasks": TASK,
    "reports": TASK,
    "models": MODEL,
}
# Reports are tasks of type "report" (reports.*): these list them (get_task_data with their
# events); every other reports.* call naming a task changes it.
REPORT_LISTINGS = {"reports.get_all_ex", "reports.get_task_data"}
# endpoint -> (kind, field, action); FIELD holds one id or a list of ids.
BY_ID: dict[str, tuple[str, str, str]] = {
    "tasks.get_by_id": (TASK, "task", READ),
    "projects.get_by_id": (PROJECT, "project", READ),
    "projects.validate_delete": (PROJECT, "project", READ),
    "models.get_by_id": (MODEL, "model", READ),
    "queues.get_by_id": (QUEUE, "queue", READ),
    "queues.get_next_task": (QUEUE, "queue", READ),
    "queues.peek_task": (QUEUE, "queue", READ),
    "queues.get_num_entries": (QUEUE, "queue", READ),
    "queues.get_queue_metrics": (QUEUE, "queue_ids", READ),
    "tasks.get_hyper_params": (TASK, "tasks", READ),
    "tasks.get_configurations": (TASK, "tasks", READ),
    "tasks.get_configuration_names": (TASK, "tasks", READ),
    "tasks.clone": (TASK, "task", READ),
    "projects.update": (PROJECT, "project", MODIFY),
    "projects.delete": (PROJECT, "project", MODIFY),
    "projects.merge": (PROJECT, "project", MODIFY),
    "projects.move": (PROJECT, "project", MODIFY),
    "projects.make_public": (PROJECT, "ids", MODIFY),
    "projects.make_private": (PROJECT, "ids", MODIFY),
    "models.make_public": (MODEL, "ids", MODIFY),
    "models.make_private": (MODEL, "ids", MODIFY),
    "models.update": (MODEL, "model", MODIFY),
    "models.edit": (MODEL, "model", MODIFY),
    "models.set_ready": (MODEL, "model", MODIFY),
    "models.delete": (MODEL, "model", MODIFY),
    "models.add_or_update_metadata": (MODEL, "model", MODIFY),
    "models.delete_metadata": (MODEL, "model", MODIFY),
    "models.publish_many": (MODEL, "ids", MODIFY),
    "models.archive_many": (MODEL, "ids", MODIFY),
    "models.unarchive_many": (MODEL, "ids", MODIFY),
    "models.delete_many": (MODEL, "ids", MODIFY),
    "models.move": (MODEL, "ids", MODIFY),
    "models.update_for_task": (TASK, "task", MODIFY),
    "queues.add_task": (QUEUE, "queue", MODIFY),
    "queues.remove_task": (QUEUE, "queue", MODIFY),
    "queues.move_task_forward": (QUEUE, "queue", MODIFY),
    "queues.move_task_backward": (QUEUE, "queue", MODIFY),
    "queues.move_task_to_front": (QUEUE, "queue", MODIFY),
    "queues.move_task_to_back": (QUEUE, "queue", MODIFY),
    "queues.clear_queue": (QUEUE, "queue", MODIFY),
    "queues.add_or_update_metadata": (QUEUE, "queue", MODIFY),
    "queues.delete_metadata": (QUEUE, "queue", MODIFY),
    "events.add": (TASK, "task", MODIFY),
    "tasks.archive": (TASK, "tasks", MODIFY),
    "tasks.unarchive": (TASK, "tasks", MODIFY),
}
# Every other events.* call reads the events of the tasks it names (`task`, `tasks`, or
# `metrics: [{"task": ...}]`), or of models with `model_events`; these change them.
EVENT_WRITES = {"events.delete_for_task", "events.delete_for_model", "events.clear_task_log"}


def _event_targets(body: dict) -> list[str]:
    named = ids_of(body.get("task")) + ids_of(body.get("tasks")) + ids_of(body.get("model"))
    for entry in body.get("metrics") or [] if isinstance(body.get("metrics"), list) else []:
        if isinstance(entry, dict):
            named += ids_of(entry.get("task"))
    return named


# Every other tasks.* call naming a "task" modifies it (edit, update, delete, publish, enqueue,
# stop, reset, started, completed, ping, add_or_update_artifacts, ...).
TASK_NON_WRITES = {
    "tasks.get_by_id",
    "tasks.get_all",
    "tasks.get_all_ex",
    "tasks.get_by_id_ex",
    "tasks.clone",
}


def is_queue_admin(forwarded: Forwarded) -> bool:
    """In the workspace's `Queue admins` group (stored members; an impersonated token: its owner's)."""
    if "queue_admin" not in forwarded.extra:
        membership = forwarded.call.membership
        forwarded.extra["queue_admin"] = membership is not None and (
            GroupMembership.objects.filter(
                Q(group__builtin=BuiltinGroup.QUEUE_ADMINS),
                group__workspace_id=membership.workspace_id,
                user_id=membership.user_id,
            ).exists()
        )
    return forwarded.extra["queue_admin"]


def check(forwarded: Forwarded) -> None:
    """The before-hook of every forwarded call."""
    name = forwarded.name
    body = forwarded.body if isinstance(forwarded.body, dict) else {}
    renames = name == "queues.update" and body.get("name") is not None
    if (name in QUEUE_ADMIN or renames) and not is_queue_admin(forwarded):
        what = {"queues.create": "create", "queues.delete": "delete"}.get(name, "rename")
        raise AccessRuleDenied(f"only members of the Queue admins group may {what} queues")
    view = view_of(forwarded)
    if view is None:
        return
    if name in LISTINGS:
        kind = LISTINGS[name]
        ids_with_joined_names(body)
        if not view.bears_on(kind):
            return
        if kind == PROJECT:
            narrow_projects(view, body)
        elif kind == QUEUE:
            narrow_queues(view, body)
        else:
            narrow_children(view, kind, body, subprojects=name.endswith("_ex"))
        return
    if name == "organization.get_entities_count":
        for field, kind in ENTITY_COUNTS.items():
            sub = body.get(field)
            if isinstance(sub, dict) and view.bears_on(kind):
                if kind == PROJECT:
                    narrow_projects(view, sub, listing=False)
                else:
                    narrow_children(view, kind, sub, subprojects=field == "reports", listing=False)
        return
    if name == "organization.prepare_download_for_get_all":  # a listing exported as CSV
        kind = MODEL if body.get("entity_type") == "model" else TASK
        if view.bears_on(kind):
            narrow_children(view, kind, body)
        return
    if name in REPORT_LISTINGS:
        if view.bears_on(TASK):
            narrow_children(view, TASK, body, subprojects=name == "reports.get_all_ex")
        return
    if name.startswith("reports."):
        need(view, TASK, body.get("task"), MODIFY, what=name.split(".", 1)[1].replace("_", " "))
        if name in ("reports.create", "reports.move") and body.get("project"):
            need_project(view, body.get("project"))
        return
    if name in PROJECT_AGGREGATES:
        if view.bears_on(PROJECT):
            narrow_aggregate(view, name, body)
        return
    if name in ONE_PROJECT_AGGREGATES:
        if view.bears_on(PROJECT):
            narrow_one_project_aggregate(view, body)
        return
    if name == "events.add_batch":
        events = forwarded.body if isinstance(forwarded.body, list) else []
        for task in sorted({e.get("task") for e in events if isinstance(e, dict)} - {None}):
            need(view, TASK, task, MODIFY, what="report to")
        return
    if name in BY_ID:
        kind, key, action = BY_ID[name]
        for object_id in ids_of(body.get(key)):
            need(view, kind, object_id, action, by_ids=name == "tasks.get_by_id")
        if name == "tasks.clone":
            target = body.get("new_task_project")
            if target:
                need_project(view, target)
            else:
                project = up.parent_projects(view.upstream, TASK, [body.get("task")]).get(body.get("task"))
                need_project(view, project)
        if name == "models.move":
            need_project(view, body.get("project"), what="move models into")
        if name == "projects.move":  # new_location is a name ("a/b"), made if missing
            need_project(view, _existing_project(view, body.get("new_location")), what="move projects into")
        if name == "projects.merge":
            need_project(view, body.get("destination_project"), what="merge into")
        return
    if name.startswith("events."):
        kind = MODEL if body.get("model_events") or name == "events.delete_for_model" else TASK
        action = MODIFY if name in EVENT_WRITES else READ
        for object_id in _event_targets(body):
            need(view, kind, object_id, action, what="change the events of")
        return
    if name == "models.get_by_task_id":
        need(view, TASK, body.get("task"), READ)
        return
    if name == "tasks.create":
        need_project(view, body.get("project"))
        return
    if name == "models.create":
        need_project(view, body.get("project"))
        need(view, TASK, body.get("task"), MODIFY)
        return
    if name == "projects.create":
        parent = _existing_parent(view, body.get("name"))
        if parent:
            need_project(view, parent)
        return
    if name.startswith("tasks.") and name not in TASK_NON_WRITES:
        for object_id in ids_of(body.get("task")) + ids_of(body.get("ids")) + ids_of(body.get("tasks")):
            need(view, TASK, object_id, MODIFY, what=name.split(".", 1)[1].replace("_", " "))
        if name == "tasks.enqueue":
            need(view, QUEUE, body.get("queue"), MODIFY, what="enqueue into")
        if name in ("tasks.move", "tasks.edit", "tasks.update") and body.get("project"):
            need_project(view, body.get("project"), what="move tasks into")


def _existing_parent(view: View, name) -> str | None:
    """The nearest existing project above a new project's NAME ("a/b/new" -> "a/b")."""
    return _existing_project(view, name, itself=False)


def _existing_project(view: View, name, *, itself: bool = True) -> str | None:
    """The project named NAME ("a/b"), else the nearest existing one above it."""
    if not isinstance(name, str):
        return None
    parts = [p.strip() for p in name.strip().split("/") if p.strip()]
    for depth in range(len(parts) if itself else len(parts) - 1, 0, -1):
        found = view.tree.ids.get("/".join(parts[:depth]))
        if found:
            return found
    return None


# What a forwarded call changed on a server, told to every portal process (the revocation
# channel) so that none keeps a stale project tree or project members for its TTL.
PROJECTS_CHANGED = "access-projects"
CHILDREN_CHANGED = "access-children"


def _tree_dropped(link_id: str) -> None:
    if link_id.isdigit():
        up.projects_changed(int(link_id))


def _children_dropped(link_id: str) -> None:
    if link_id.isdigit():
        up.children_changed(int(link_id))


def _tell_others(kind: str, forwarded: Forwarded) -> None:
    if rules_present(forwarded.call.workspace_id):  # (no rule: no process keeps a copy to drop)
        revocation.publish(kind, str(forwarded.upstream.link_id))


def projects_changed(forwarded: Forwarded, status: int, response: dict | None) -> None:
    """A project was created, renamed, moved or deleted: the tree is read again, everywhere."""
    up.projects_changed(forwarded.upstream.link_id)
    _tell_others(PROJECTS_CHANGED, forwarded)


def children_changed(forwarded: Forwarded, status: int, response: dict | None) -> None:
    """A task or model was created (or cloned) in a project: the projects' members are read again."""
    up.children_changed(forwarded.upstream.link_id)
    _tell_others(CHILDREN_CHANGED, forwarded)


def parent_changed(forwarded: Forwarded, status: int, response: dict | None) -> None:
    body = forwarded.body if isinstance(forwarded.body, dict) else {}
    kind = MODEL if forwarded.name.startswith("models.") else TASK
    for object_id in ids_of(body.get("task")) + ids_of(body.get("model")) + ids_of(body.get("ids")):
        up.parent_moved(forwarded.upstream, kind, object_id)
    _tell_others(CHILDREN_CHANGED, forwarded)


CHECKED = (
    "projects.*",
    "tasks.*",
    "models.*",
    "queues.*",
    "events.*",
    "reports.*",
    "organization.get_entities_count",
    "organization.prepare_download_for_get_all",
    "organization.get_tags",
)


def register() -> None:
    before_forward(*CHECKED, when=wants)(check)
    rules_followed()  # (visibility: what changes the callers' views)
    revocation.add_listener(PROJECTS_CHANGED, _tree_dropped)
    revocation.add_listener(CHILDREN_CHANGED, _children_dropped)
    after_forward("projects.create", "projects.update", "projects.delete", "projects.move", "projects.merge")(
        projects_changed
    )
    after_forward("tasks.edit", "tasks.update", "tasks.move", "models.update", "models.edit", "models.move")(
        parent_changed
    )
    after_forward("tasks.create", "tasks.clone", "models.create", "models.update_for_task")(children_changed)
