"""The ClearML server's objects as Access Rules see them: projects, tasks, models, datasets,
dataviews and queues of a workspace linked to a server (gateway/).

Registered from AccessConfig.ready() with `kinds.upstream_kind_register`; for a linked workspace
they replace the portal's own `queue` and `task` kinds (`kinds.kind_for`). Every call goes to the
workspace's server with its system credential, so it sees the link's company and nothing else.

- `search(workspace=, query="", pk=None, limit=50) -> [(id, label)]`: the rule editor's picker
  (names containing QUERY, case-insensitive; or the one object PK).
- `names(workspace=, ids=) -> {id: name}`: labels of the objects rules name (missing: deleted).
  Both raise UpstreamError (a kinds.ObjectsUnavailable) when the server does not answer.
- `ancestors(workspace, ref) -> [ObjectRef]`: what covers an object, nearest first (the
  inheritance: project -> sub-projects -> tasks, models, datasets).
- `project_tree(upstream)`: every project of the server (ids, names, dataset marks), kept per
  process for TREE_TTL seconds and dropped when a forwarded call changes projects.

Datasets: the open-source server has no dataset object. The SDK (clearml.Dataset) keeps a dataset
as a project marked with the system tag "dataset" (hidden, named "<project>/.datasets/<name>") and
each of its versions as a task in it, also tagged "dataset". A dataset's id here is that
project's id. Dataviews exist only on ClearML Enterprise: rules on them are stored, and nothing on
an open-source server is one (search finds none).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from gateway.client import UpstreamUnavailable
from gateway.services import ProvisioningFailed, upstream_for
from gateway.services import system_call as gateway_system_call

from .kinds import ObjectKind, ObjectRef, ObjectsUnavailable
from .models import AccessRule

DATASET_TAG = "dataset"
DATASETS_FOLDER = ".datasets"
TREE_TTL = 10.0
TREE_LIMIT = 100_000
PAGE = 500

RT = AccessRule.ResourceType


class UpstreamError(ObjectsUnavailable):
    """The server could not answer (unreachable, or it refused the system credential's call): the
    kinds' SEARCH and NAMES raise it, as the ObjectsUnavailable the views catch."""


def upstream_of(workspace):
    """WORKSPACE's server (gateway.cache.Upstream) or None; WORKSPACE: a Workspace or its id."""
    workspace_id = getattr(workspace, "id", workspace)
    key = workspace_id.hex if hasattr(workspace_id, "hex") else str(workspace_id).replace("-", "")
    return upstream_for(key)


def is_linked(workspace) -> bool:
    return upstream_of(workspace) is not None


def system_call(upstream, endpoint: str, data: dict) -> dict:
    """The `data` of ENDPOINT called on UPSTREAM with its system credential; raises UpstreamError."""
    try:
        reply = gateway_system_call(upstream, endpoint, data)
    except (UpstreamUnavailable, ProvisioningFailed) as exc:
        raise UpstreamError(str(exc)) from None
    if reply.status != 200:
        raise UpstreamError(f"{endpoint}: {reply.message}")
    return reply.data


def _pattern(query: str) -> str:
    return re.escape(query.strip())


# --- the project tree -----------------------------------------------------------------------------


@dataclass
class ProjectTree:
    """Every project of one server: NAMES (id -> full name "a/b/c"), IDS (full name -> id),
    DATASETS (ids of projects marked as datasets), HIDDEN (ids of projects the server leaves out
    of listings unless asked: system tag "hidden")."""

    names: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    datasets: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)
    loaded_at: float = 0.0

    def parent_ids(self, project_id: str) -> list[str]:
        """The ancestors of PROJECT_ID, nearest first (by name: "a/b/c" is in "a/b", in "a")."""
        name = self.names.get(project_id)
        if not name:
            return []
        parts = name.split("/")
        out = []
        for depth in range(len(parts) - 1, 0, -1):
            found = self.ids.get("/".join(parts[:depth]))
            if found:
                out.append(found)
        return out

    def refs(self, project_id: str | None) -> list[ObjectRef]:
        """PROJECT_ID and its ancestors as rules name them (a dataset's project also as the dataset)."""
        if not project_id:
            return []
        out = []
        for pid in [project_id, *self.parent_ids(project_id)]:
            out.append(ObjectRef(RT.PROJECT.value, pid))
            if pid in self.datasets:
                out.append(ObjectRef(RT.DATASET.value, pid))
        return out

    def below(self, project_id: str) -> list[str]:
        """The projects under PROJECT_ID, at every depth (not itself)."""
        name = self.names.get(project_id)
        if not name:
            return []
        prefix = name + "/"
        return [pid for pid, other in self.names.items() if other.startswith(prefix)]

    def descendants(self, project_ids) -> set[str]:
        """PROJECT_IDS and every project below them."""
        prefixes = tuple(self.names[pid] + "/" for pid in project_ids if pid in self.names)
        found = set(project_ids)
        if prefixes:
            found.update(pid for pid, name in self.names.items() if name.startswith(prefixes))
        return found


_trees: dict[int, ProjectTree] = {}
_trees_lock = threading.Lock()


def project_tree(upstream, *, fresh: bool = False) -> ProjectTree:
    """UPSTREAM's projects, from this process's copy when younger than TREE_TTL seconds."""
    tree = _trees.get(upstream.link_id)
    if tree is not None and not fresh and time.monotonic() - tree.loaded_at < TREE_TTL:
        return tree
    tree = ProjectTree()
    page = 0
    while True:
        rows = system_call(
            upstream,
            "projects.get_all",
            {
                "only_fields": ["id", "name", "system_tags"],
                "search_hidden": True,
                "page": page,
                "page_size": PAGE,
                "order_by": ["id"],
            },
        ).get("projects", [])
        for row in rows:
            pid, name = row.get("id"), row.get("name") or ""
            if not isinstance(pid, str):
                continue
            tree.names[pid] = name
            tree.ids[name] = pid
            if DATASET_TAG in (row.get("system_tags") or []):
                tree.datasets.add(pid)
            if "hidden" in (row.get("system_tags") or []):
                tree.hidden.add(pid)
        if len(rows) < PAGE or len(tree.names) >= TREE_LIMIT:
            break
        page += 1
    tree.loaded_at = time.monotonic()
    with _trees_lock:
        _trees[upstream.link_id] = tree
    return tree


# Bumped whenever a copy below is dropped, so that what was computed from them can be kept
# with the generation it saw (access/narrowing.py).
_generation = [0]


def generation() -> int:
    return _generation[0]


def projects_changed(link_id: int | None = None) -> None:
    """Forget the project tree of LINK_ID (None: every link), e.g. after projects.create."""
    _generation[0] += 1
    with _trees_lock:
        if link_id is None:
            _trees.clear()
        else:
            _trees.pop(link_id, None)


# --- objects' parents ------------------------------------------------------------------------------

_PARENT_TTL = 60.0
_parents: dict[tuple[int, str, str], tuple[float, str | None]] = {}


def parent_projects(upstream, kind: str, ids) -> dict[str, str | None]:
    """{id: project id or None} of tasks or models IDS (one call for those not remembered)."""
    now = time.monotonic()
    out, missing = {}, []
    for object_id in ids:
        found = _parents.get((upstream.link_id, kind, object_id))
        if found is not None and now - found[0] < _PARENT_TTL:
            out[object_id] = found[1]
        else:
            missing.append(object_id)
    if missing:
        service = "tasks" if kind == RT.TASK.value else "models"
        rows = []
        for start in range(0, len(missing), PAGE):  # (the server answers at most PAGE per call)
            rows += system_call(
                upstream,
                f"{service}.get_all",
                {
                    "id": missing[start : start + PAGE],
                    "only_fields": ["id", "project"],
                    "search_hidden": True,
                    "page": 0,
                    "page_size": PAGE,
                },
            ).get(service, [])
        if len(_parents) > 100_000:
            _parents.clear()
        for row in rows:
            project = row.get("project")
            project = project.get("id") if isinstance(project, dict) else project
            out[row["id"]] = project or None
            _parents[(upstream.link_id, kind, row["id"])] = (now, project or None)
    return out


def parent_moved(upstream, kind: str, object_id: str) -> None:
    _parents.pop((upstream.link_id, kind, object_id), None)
    children_changed(upstream.link_id)


# --- the members of some projects -----------------------------------------------------------------

CHILDREN_TTL = 3.0
_children: dict[tuple[int, str, frozenset], tuple[float, set[str]]] = {}


def children_of(upstream, kind: str, project_ids) -> set[str]:
    """Ids of the tasks or models in PROJECT_IDS (a listing that must leave out most of a
    project's objects but not all). Kept CHILDREN_TTL seconds; dropped at once in this process
    when a forwarded call creates or moves one (`children_changed`)."""
    key = (upstream.link_id, kind, frozenset(project_ids))
    found = _children.get(key)
    now = time.monotonic()
    if found is not None and now - found[0] < CHILDREN_TTL:
        return found[1]
    service = "tasks" if kind == RT.TASK.value else "models"
    ids: set[str] = set()
    page = 0
    while True:  # every page: a sibling left out of the answer would be left visible
        rows = system_call(
            upstream,
            f"{service}.get_all",
            {
                "project": sorted(project_ids),
                "only_fields": ["id"],
                "search_hidden": True,
                "order_by": ["id"],
                "page": page,
                "page_size": PAGE,
            },
        ).get(service, [])
        ids.update(row["id"] for row in rows if isinstance(row.get("id"), str))
        if len(rows) < PAGE:
            break
        page += 1
    if len(_children) > 1000:
        _children.clear()
    _children[key] = (now, ids)
    return ids


def children_changed(link_id: int | None = None) -> None:
    _generation[0] += 1
    for key in [k for k in _children if link_id is None or k[0] == link_id]:
        _children.pop(key, None)


def chain_of(upstream, ref: ObjectRef, *, tree: ProjectTree | None = None) -> list[ObjectRef]:
    """REF and what covers it, nearest first."""
    if ref.id is None:
        return [ref]
    if ref.kind in (RT.QUEUE.value, RT.DATAVIEW.value):
        return [ref]
    tree = tree or project_tree(upstream)
    if ref.kind == RT.PROJECT.value:
        return tree.refs(ref.id)
    if ref.kind == RT.DATASET.value:
        return [ref, *[r for r in tree.refs(ref.id) if r != ref]]
    project = parent_projects(upstream, ref.kind, [ref.id]).get(ref.id)
    return [ref, *tree.refs(project)]


def ancestors(workspace, ref: ObjectRef) -> list[ObjectRef]:
    """kinds.ObjectKind.ancestors for the upstream kinds."""
    upstream = upstream_of(workspace)
    if upstream is None:
        return []
    return chain_of(upstream, ref)[1:]


# --- search and names (the rule editor) ------------------------------------------------------------


def _listing(upstream, endpoint: str, key: str, data: dict) -> list[dict]:
    return system_call(upstream, endpoint, data).get(key, [])


def _dataset_label(name: str) -> str:
    parts = name.split("/")
    if DATASETS_FOLDER in parts:
        at = parts.index(DATASETS_FOLDER)
        where, what = "/".join(parts[:at]), "/".join(parts[at + 1 :])
        return f"{what} ({where})" if where else what
    return name


_SOURCES = {
    # kind: (endpoint, key in data, extra filter, label)
    RT.PROJECT.value: ("projects.get_all", "projects", {}, lambda row: row.get("name", "")),
    RT.TASK.value: (
        "tasks.get_all",
        "tasks",
        {"system_tags": ["-" + DATASET_TAG], "order_by": ["-last_update"]},
        lambda row: row.get("name", ""),
    ),
    RT.MODEL.value: (
        "models.get_all",
        "models",
        {"order_by": ["-last_update"]},
        lambda row: row.get("name", ""),
    ),
    RT.DATASET.value: (
        "projects.get_all",
        "projects",
        {"system_tags": [DATASET_TAG], "search_hidden": True},
        lambda row: _dataset_label(row.get("name", "")),
    ),
    RT.QUEUE.value: (
        "queues.get_all",
        "queues",
        {},
        lambda row: row.get("display_name") or row.get("name", ""),
    ),
}


def _search(kind: str):
    def search(*, workspace, query: str = "", pk=None, limit: int = 50) -> list[tuple[str, str]]:
        upstream = upstream_of(workspace)
        if upstream is None or kind not in _SOURCES:
            return []
        endpoint, key, extra, label = _SOURCES[kind]
        data = {**extra, "only_fields": ["id", "name"], "page": 0, "page_size": limit}
        if kind == RT.QUEUE.value:
            data["only_fields"] = ["id", "name", "display_name"]
        if pk is not None:
            data.pop("system_tags", None)
            data["id"] = [str(pk)]
        elif query:
            data["name"] = _pattern(query)
        rows = _listing(upstream, endpoint, key, data)  # UpstreamError: the server did not answer
        found = [(row["id"], label(row)) for row in rows if isinstance(row.get("id"), str)]
        if kind == RT.PROJECT.value and pk is None:  # the SDK's hidden folders (".datasets") are not offered
            found = [
                (pid, name) for pid, name in found if not any(p.startswith(".") for p in name.split("/"))
            ]
        return found[:limit]

    return search


def _names(kind: str):
    def names(*, workspace, ids) -> dict[str, str]:
        ids = [str(i) for i in ids if i is not None]
        upstream = upstream_of(workspace)
        if not ids or upstream is None:
            return {}
        if kind == RT.DATAVIEW.value:  # stored only: nothing upstream to ask
            return {i: f"dataview {i}" for i in ids}
        endpoint, key, _extra, label = _SOURCES[kind]
        data = {"id": ids, "only_fields": ["id", "name", "display_name" if kind == "queue" else "name"]}
        if kind in (RT.PROJECT.value, RT.DATASET.value, RT.TASK.value, RT.MODEL.value):
            data["search_hidden"] = True
        if kind == RT.DATASET.value:
            data["system_tags"] = [DATASET_TAG]
        rows = _listing(upstream, endpoint, key, data)
        return {row["id"]: label(row) for row in rows if isinstance(row.get("id"), str)}

    return names


def names_of(kind: str):
    """NAMES(workspace=, ids=) of the upstream KIND."""
    return _names(kind)


def kinds() -> list[ObjectKind]:
    """The six kinds of a linked workspace (parents: the inheritance, see `ancestors`)."""
    out = []
    for resource_type in RT:
        parent = RT.PROJECT.value if resource_type.value in ("task", "model", "dataset") else None
        out.append(
            ObjectKind(
                name=resource_type.value,
                label=resource_type.label,
                parent=parent,
                ancestors=ancestors
                if resource_type.value not in ("queue", "dataview")
                else (lambda w, r: []),
                search=_search(resource_type.value),
                names=_names(resource_type.value),
            )
        )
    return out


def reset() -> None:
    """Tests: forget every tree and parent."""
    projects_changed()
    _parents.clear()
    _children.clear()
