"""Access Rules on the ClearML server's answers: what a listing's request filters cannot leave
out, because it is named *inside* an entry the caller may see (docs/gateway.md).

- `projects.get_all_ex` with stats: a visible project's `sub_projects` and counts would name and
  count its hidden sub-projects. The request asks for each project's own counts
  (access.narrowing.narrow_projects); here the counts of its visible sub-projects are added (one
  call to the server for all of them) and `sub_projects` lists only those.
- Task and model listings (`*.get_all_ex`) join the names of related objects: a visible task's
  hidden parent task, a visible model's hidden creating task, the hidden project of a task
  granted inside it keep their ids and lose their names.
- Queues (`queues.get_all`, `get_all_ex`, `get_by_id`) list their entries' tasks, and workers
  (`workers.get_all`, a queue's `workers`) their running task, project and queues: entries of
  tasks the caller may not read are left out, and a worker's hidden task, project or queue is
  shown as none. `queues.get_num_entries` and `queues.peek_task` count and pick among the
  entries the caller may read; `queues.get_queue_metrics` (lengths over time) is empty for a
  caller from whom task rules hide something.
- `organization.get_tags` (every task's and model's tags) is asked again over the projects with
  nothing hidden in or below them.

Registered from AccessConfig.ready() (`register`). Each rewriter runs only for callers some
rule bears on (access.visibility.wants, then the caller's View).
"""

from __future__ import annotations

from gateway.interception import Forwarded, rewrite_answer

from . import upstream as up
from .list_filters import NOTHING
from .narrowing import above_hidden
from .visibility import PROJECT, QUEUE, TASK, View, view_of, wants

STATS_PAGE = 500


def _view(forwarded: Forwarded, status: int, response: dict) -> View | None:
    if status != 200 or not isinstance(response.get("data"), dict):
        return None
    return view_of(forwarded)


# --- projects: sub-projects and their counts ----------------------------------------------------


def project_stats(forwarded: Forwarded, status: int, response: dict) -> bool:
    view = _view(forwarded, status, response)
    asked = view.notes.get("stats_of_children") if view is not None else None
    projects = response["data"].get("projects") if asked is not None else None
    if not isinstance(projects, list):
        return False
    tree = view.tree
    hidden = view.hidden_projects()
    # Which sub-projects the server would count (its _get_project_stats_filter).
    with_hidden = bool(asked.get("search_hidden")) or (
        not asked.get("include_stats_filter") and asked.get("children_type") in ("pipeline", "report")
    )
    below: dict[str, list[str]] = {}
    for entry in projects:
        pid = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(pid, str):
            below[pid] = [
                c for c in tree.below(pid) if c not in hidden and (with_hidden or c not in tree.hidden)
            ]
    children = sorted(set().union(*below.values())) if below else []
    own = _own_stats(view, children, asked) if children else {}
    for entry in projects:
        pid = entry.get("id") if isinstance(entry, dict) else None
        if pid not in below:
            continue
        if isinstance(entry.get("stats"), dict):
            entry["stats"] = _summed([entry["stats"], *(own[c] for c in below[pid] if c in own)])
        entry["sub_projects"] = sorted(
            ({"id": c, "name": tree.names[c]} for c in below[pid]), key=lambda item: item["name"]
        )
    return True


def _own_stats(view: View, project_ids: list[str], asked: dict) -> dict[str, dict]:
    """Each of PROJECT_IDS' own counts (not its sub-projects'), as the caller asked for them."""
    out = {}
    for start in range(0, len(project_ids), STATS_PAGE):
        rows = up.system_call(
            view.upstream,
            "projects.get_all_ex",
            {
                **asked,
                "id": project_ids[start : start + STATS_PAGE],
                "include_stats": True,
                "stats_with_children": False,
                "search_hidden": True,
                "only_fields": ["id"],
                "page": 0,
                "page_size": STATS_PAGE,
            },
        ).get("projects", [])
        out.update({row["id"]: row["stats"] for row in rows if isinstance(row.get("stats"), dict)})
    return out


def _summed(stats: list[dict]) -> dict:
    """Counts added up key by key (`last_task_run`, a moment: the latest)."""
    total: dict = {}
    for item in stats:
        for key, value in item.items():
            mine = total.get(key)
            if isinstance(value, dict):
                total[key] = _summed([mine, value]) if isinstance(mine, dict) else _summed([value])
            elif isinstance(value, bool) or not isinstance(value, int | float):
                if value is not None and (mine is None or str(value) > str(mine)):
                    total[key] = value
                else:
                    total.setdefault(key, value)
            else:
                total[key] = (mine if isinstance(mine, int | float) else 0) + value
    return total


# --- listings: the names of related objects ----------------------------------------------------------

# Joined fields of *_ex listings ({id, name}) that may name an object the caller may not read.
JOINED = {"parent": TASK, "task": TASK, "project": PROJECT}


def joined_names(forwarded: Forwarded, status: int, response: dict) -> bool:
    """A visible task's parent task, a visible model's creating task, or the project of a task
    granted inside a hidden project: their ids stay (as a deleted parent's would), their names
    go."""
    view = _view(forwarded, status, response)
    if view is None:
        return False
    rows = response["data"].get("tasks" if forwarded.name.startswith("tasks.") else "models")
    if not isinstance(rows, list):
        return False
    named: dict[str, set[str]] = {TASK: set(), PROJECT: set()}
    changed = False
    for row in rows:
        for key, kind in JOINED.items():
            value = row.get(key) if isinstance(row, dict) else None
            if isinstance(value, dict) and "name" in value:
                if not isinstance(value.get("id"), str):  # (asked for with its id: not expected)
                    row[key], changed = {}, True
                    continue
                named[kind].add(value["id"])
    if not named[TASK] and not named[PROJECT]:
        return changed
    unreadable = named[TASK] - view.readable(TASK, named[TASK]) if view.bears_on(TASK) else set()
    unreadable |= {p for p in named[PROJECT] if view.project_rank(p) < 1}
    if not unreadable:
        return changed
    for row in rows:
        for key in JOINED:
            value = row.get(key) if isinstance(row, dict) else None
            if isinstance(value, dict) and value.get("id") in unreadable:
                row[key] = {"id": value["id"]}
    return True


# --- tags of the whole server ------------------------------------------------------------------------


def organization_tags(forwarded: Forwarded, status: int, response: dict) -> bool:
    """Every task's and model's tags: asked again over the projects with nothing hidden in or
    below them (narrowing.above_hidden), the server widening each with its sub-projects."""
    view = _view(forwarded, status, response)
    if view is None:
        return False
    hidden = view.hidden_projects()
    safe = set(view.tree.names) - hidden - above_hidden(view, hidden)
    body = forwarded.body if isinstance(forwarded.body, dict) else {}
    asked = {k: body[k] for k in ("include_system", "filter") if k in body}
    asked["projects"] = sorted(safe) or [NOTHING]
    found = [up.system_call(view.upstream, endpoint, asked) for endpoint in TAG_ENDPOINTS]
    data = {"tags": sorted(set().union(*(f.get("tags") or [] for f in found)))}
    if body.get("include_system"):
        data["system_tags"] = sorted(set().union(*(f.get("system_tags") or [] for f in found)))
    response["data"] = data
    return True


TAG_ENDPOINTS = ("projects.get_task_tags", "projects.get_model_tags")


# --- queues and workers: the tasks they name --------------------------------------------------------


def _task_id(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _queues_of(data: dict) -> list[dict]:
    if isinstance(data.get("queue"), dict):
        return [data["queue"]]
    return [q for q in data.get("queues") or [] if isinstance(q, dict)]


def queue_entries(forwarded: Forwarded, status: int, response: dict) -> bool:
    view = _view(forwarded, status, response)
    if view is None:
        return False
    queues = _queues_of(response["data"])
    workers = [w for q in queues for w in q.get("workers") or [] if isinstance(w, dict)]
    if not view.bears_on(TASK) or not (queues or workers):
        return False
    named = {_task_id(e.get("task")) for q in queues for e in q.get("entries") or [] if isinstance(e, dict)}
    named |= {_task_id(w.get("task")) for w in workers}
    readable = view.readable(TASK, named - {None})
    for queue in queues:
        if isinstance(queue.get("entries"), list):
            queue["entries"] = [
                e for e in queue["entries"] if isinstance(e, dict) and _task_id(e.get("task")) in readable
            ]
    for worker in workers:
        if _task_id(worker.get("task")) not in readable:
            worker["task"] = None
    return True


def workers(forwarded: Forwarded, status: int, response: dict) -> bool:
    view = _view(forwarded, status, response)
    found = response["data"].get("workers") if view is not None else None
    if not isinstance(found, list):
        return False
    entries = [w for w in found if isinstance(w, dict)]
    named = {_task_id(w.get("task")) for w in entries} - {None}
    readable = view.readable(TASK, named) if named and view.bears_on(TASK) else named
    for worker in entries:
        if _task_id(worker.get("task")) not in readable:
            worker["task"] = None
        project = _task_id(worker.get("project"))
        if project and view.project_rank(project) < 1:
            worker["project"] = None
        if view.bears_on(QUEUE):
            if isinstance(worker.get("queues"), list):
                worker["queues"] = [
                    q for q in worker["queues"] if not _task_id(q) or view.rank(QUEUE, _task_id(q)) >= 1
                ]
            queue = _task_id(worker.get("queue"))
            if queue and view.rank(QUEUE, queue) < 1:
                worker["queue"] = None
    return True


def _readable_entries(view: View, queue_id: str) -> list[str]:
    """The ids of QUEUE_ID's queued tasks the caller may read, in queue order."""
    queue = up.system_call(view.upstream, "queues.get_by_id", {"queue": queue_id}).get("queue") or {}
    ids = [_task_id(e.get("task")) for e in queue.get("entries") or [] if isinstance(e, dict)]
    ids = [i for i in ids if i]
    readable = view.readable(TASK, set(ids))
    return [i for i in ids if i in readable]


def queue_counts(forwarded: Forwarded, status: int, response: dict) -> bool:
    view = _view(forwarded, status, response)
    body = forwarded.body if isinstance(forwarded.body, dict) else {}
    queue_id = body.get("queue")
    if view is None or not view.bears_on(TASK) or not isinstance(queue_id, str):
        return False
    data = response["data"]
    if forwarded.name == "queues.get_num_entries":
        data["num"] = len(_readable_entries(view, queue_id))
        return True
    if _task_id(data.get("task")) is None:
        return False
    entries = _readable_entries(view, queue_id)
    data["task"] = entries[0] if entries else None
    return True


def queue_metrics(forwarded: Forwarded, status: int, response: dict) -> bool:
    """Queue lengths and waiting times over time count every queued task, and cannot be counted
    again without the hidden ones: a caller from whom task rules hide something gets none."""
    view = _view(forwarded, status, response)
    if view is None or not view.hides_children():
        return False
    for entry in response["data"].get("queues") or []:
        if isinstance(entry, dict):
            for key in ("dates", "avg_waiting_times", "queue_lengths"):
                if key in entry:
                    entry[key] = []
    return True


# What each rewriter needs to see before the answer is read whole (else it streams as usual).


def _stats_asked(forwarded: Forwarded) -> bool:
    view = view_of(forwarded)
    return view is not None and "stats_of_children" in view.notes


def _hides_tasks(forwarded: Forwarded) -> bool:
    view = view_of(forwarded)
    return view is not None and view.bears_on(TASK)


def _hides_counted_tasks(forwarded: Forwarded) -> bool:
    view = view_of(forwarded)
    return view is not None and view.hides_children()


def _workers_name_hidden(forwarded: Forwarded) -> bool:
    view = view_of(forwarded)
    return view is not None and any(view.bears_on(kind) for kind in (TASK, PROJECT, QUEUE))


def _hides_projects(forwarded: Forwarded) -> bool:
    view = view_of(forwarded)
    return view is not None and view.bears_on(PROJECT) and bool(view.hidden_projects())


def _names_joined(forwarded: Forwarded) -> bool:
    body = forwarded.body if isinstance(forwarded.body, dict) else {}
    only = body.get("only_fields")
    joined = isinstance(only, list) and any(f"{key}.name" in only for key in JOINED)
    return joined and view_of(forwarded) is not None


def register() -> None:
    queues = ("queues.get_all", "queues.get_all_ex", "queues.get_by_id")
    listings = ("tasks.get_all_ex", "tasks.get_by_id_ex", "models.get_all_ex")
    rewrite_answer("projects.get_all_ex", when=wants, needs=_stats_asked)(project_stats)
    rewrite_answer(*queues, when=wants, needs=_hides_tasks)(queue_entries)
    rewrite_answer("workers.get_all", when=wants, needs=_workers_name_hidden)(workers)
    rewrite_answer(*listings, when=wants, needs=_names_joined)(joined_names)
    rewrite_answer("queues.get_num_entries", "queues.peek_task", when=wants, needs=_hides_tasks)(queue_counts)
    rewrite_answer("queues.get_queue_metrics", when=wants, needs=_hides_counted_tasks)(queue_metrics)
    rewrite_answer("organization.get_tags", when=wants, needs=_hides_projects)(organization_tags)
