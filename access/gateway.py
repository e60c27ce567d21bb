"""Access Rules at the gateway: every forwarded ClearML call is checked, and listings rewritten,
before it reaches the workspace's server (docs/gateway.md, "Access Rules at the gateway").

Registered from AccessConfig.ready() (`register`). For each call:

- the caller's rule index (access.permissions.rule_index over the six kinds) is built once:
  no query for an administrator, one when the workspace has no rule, three otherwise, whatever
  the number of rules; nothing else happens when no rule bears on the call;
- listings (`*.get_all`, `*.get_all_ex`, `tasks.get_by_id_ex`) get filters added that leave out
  what the caller may not read (`id` / `project` with the server's `__$not` operator, or the
  ids they may read), so the server pages and counts only what is visible; aggregates over
  projects (`tasks.get_types`, `projects.get_task_tags`, ...) are narrowed to visible projects;
- a by-id call on a hidden object gets the server's own answer for a missing one (400/101
  `Invalid task id`, 400/401, 400/201, 400/701);
- writes need Read & Modify on the object (or what it inherits from): a Read Only caller gets
  403 naming the object and the rule that limits them; creates need it on the target project;
- queues: reading (listing, get_next_task) needs read, enqueueing modify; creating, deleting and
  renaming queues needs the `Queue admins` group (administrators included).

Objects' ancestors come from the server's project tree (access/upstream.py, kept per process for
seconds and dropped when a forwarded call changes projects) and the parents of tasks and models.
An impersonated token acts as its owner (call.user), with a member's role.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save

from gateway.interception import Forwarded, after_forward, before_forward
from settings_portal.api import errors
from workspaces import revocation
from workspaces.models import Membership

from . import list_filters as lf
from . import upstream as up
from .kinds import ObjectRef
from .list_filters import NOTHING, Keep
from .models import AccessRule, BuiltinGroup, GroupMembership, UserGroup
from .permissions import MODIFY, RANK, READ, RuleIndex, explain, rule_index

logger = logging.getLogger(__name__)

RT = AccessRule.ResourceType
KINDS = [rt.value for rt in RT]
PROJECT, TASK, MODEL, DATASET, DATAVIEW, QUEUE = "project", "task", "model", "dataset", "dataview", "queue"
# The kinds whose rules bear on an object of each kind (the object's own, and its ancestors').
CHAIN_KINDS = {
    PROJECT: {PROJECT, DATASET},
    DATASET: {PROJECT, DATASET},
    TASK: {TASK, PROJECT, DATASET},
    MODEL: {MODEL, PROJECT, DATASET},
    QUEUE: {QUEUE},
    DATAVIEW: {DATAVIEW},
}


# --- the server's own answers for a missing object ----------------------------------------------


class InvalidTaskId(errors.BadRequest):
    subcode, message = 101, "Invalid task id"


class InvalidModelId(errors.BadRequest):
    subcode, message = 201, "Invalid model id"


class InvalidProjectId(errors.BadRequest):
    subcode, message = 401, "Invalid project id"


class InvalidQueueId(errors.BadRequest):
    subcode, message = 701, "Invalid queue id"


class AccessRuleDenied(errors.Forbidden):
    subcode, message = 20, "Forbidden (access rule)"


def missing(kind: str, object_id: str, company: str, *, by_ids: bool = False) -> errors.ApiError:
    """What the server answers for KIND OBJECT_ID when it does not exist."""
    if kind in (TASK, DATASET) and by_ids:
        return InvalidTaskId(f"ids=({object_id})")
    if kind == TASK:
        return InvalidTaskId(f"id={object_id}, company={company}")
    if kind == MODEL:
        return InvalidModelId(f"id={object_id}, company={company}")
    if kind == QUEUE:
        return InvalidQueueId(f"id={object_id}, company={company}")
    return InvalidProjectId(f"id={object_id}")


# --- the caller's view --------------------------------------------------------------------------------


@dataclass
class Cover:
    covered: bool = False
    best: int = 0

    @property
    def rank(self) -> int:
        return self.best if self.covered else RANK[MODIFY]


def cover(index: RuleIndex, chain) -> Cover:
    """What the rules of INDEX say of CHAIN (an object and its ancestors): covered, best grant."""
    result = Cover()
    for ref in chain:
        rules = index.kinds.get(ref.kind)
        if rules is None:
            continue
        if rules.whole_kind_covered:
            result.covered, result.best = True, max(result.best, rules.whole_kind_rank)
        if ref.id is not None and str(ref.id) in rules.ranks_by_id:
            result.covered, result.best = True, max(result.best, rules.ranks_by_id[str(ref.id)])
    return result


@dataclass
class View:
    """What one caller may see on one server: built once per forwarded call (forwarded.extra)."""

    forwarded: Forwarded
    index: RuleIndex
    _tree: up.ProjectTree | None = None
    _project_covers: dict[str, Cover] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def upstream(self):
        return self.forwarded.upstream

    @property
    def company(self) -> str:
        return self.upstream.company_id

    def bears_on(self, kind: str) -> bool:
        """Does any rule bear on objects of KIND (its own or its ancestors')?"""
        if self.index.unrestricted:
            return False
        for name in CHAIN_KINDS[kind]:
            rules = self.index.kinds.get(name)
            if rules is not None and (rules.whole_kind_covered or rules.ranks_by_id):
                return True
        return False

    @property
    def tree(self) -> up.ProjectTree:
        if self._tree is None:
            self._tree = up.project_tree(self.upstream)
        return self._tree

    def project_covers(self) -> dict[str, Cover]:
        """Every project's cover by project and dataset rules (its chain); the same rule index
        over the same tree gives the same covers, so they are kept with the index."""
        if self._project_covers is None:
            tree = self.tree
            key = (id(self.index), id(tree))
            found = _covers.get(key)
            if found is not None and found[0] is self.index and found[1] is tree:
                self._project_covers = found[2]
            else:
                self._project_covers = {pid: cover(self.index, tree.refs(pid)) for pid in tree.names}
                if len(_covers) > 1000:
                    _covers.clear()
                _covers[key] = (self.index, tree, self._project_covers)
        return self._project_covers

    def hidden_projects(self) -> set[str]:
        return {pid for pid, c in self.project_covers().items() if c.rank < 1}

    def rank(self, kind: str, object_id: str) -> int:
        """The caller's rank on one object (0 none, 1 read, 2 read & modify)."""
        if not self.bears_on(kind):
            return RANK[MODIFY]
        if kind in (TASK, MODEL):
            project = up.parent_projects(self.upstream, kind, [object_id]).get(object_id)
            chain = [ObjectRef(kind, object_id), *self.tree.refs(project)]
        else:
            chain = up.chain_of(self.upstream, ObjectRef(kind, object_id), tree=self.tree)
        return cover(self.index, chain).rank

    def readable(self, kind: str, object_ids) -> set[str]:
        """Those of OBJECT_IDS (tasks or models) the caller may read (one call for their projects)."""
        object_ids = set(object_ids)
        if not object_ids or not self.bears_on(kind):
            return object_ids
        parents = up.parent_projects(self.upstream, kind, sorted(object_ids))
        return {
            i
            for i in object_ids
            if cover(self.index, [ObjectRef(kind, i), *self.tree.refs(parents.get(i))]).rank >= 1
        }

    def hides_children(self) -> bool:
        """Do task or model rules hide something from the caller (so per-project counts would leak it)?"""
        for kind in (TASK, MODEL):
            rules = self.index.kinds[kind]
            if (rules.whole_kind_covered and rules.whole_kind_rank < 1) or any(
                r < 1 for r in rules.ranks_by_id.values()
            ):
                return True
        return False

    def project_rank(self, project_id: str | None) -> int:
        if not project_id or not self.bears_on(PROJECT):
            return RANK[MODIFY]
        return cover(self.index, self.tree.refs(project_id)).rank


# (rule index, project tree) -> every project's cover; both are replaced, never changed, when
# rules or projects change, so an entry can only be found for the current pair.
_covers: dict[tuple[int, int], tuple[RuleIndex, up.ProjectTree, dict[str, Cover]]] = {}


def view_of(forwarded: Forwarded) -> View | None:
    """The caller's View, or None when no rule can bear on anything they do (admins: see
    `queue_admin`; they still need Queue admins to create, delete and rename queues)."""
    if "access_view" in forwarded.extra:
        return forwarded.extra["access_view"]
    index = caller_index(forwarded.call)
    view = View(forwarded, index) if index is not None else None
    forwarded.extra["access_view"] = view
    return view


# What the rules mean for one caller, kept per process for INDEX_TTL seconds and dropped at once
# (every process, over the revocation channel) when a rule, a group's members or a membership of
# the workspace changes: the listings of a busy caller cost no query.
INDEX_TTL = 5.0
_indexes: dict[tuple[str, str, bool], tuple[int, float, RuleIndex | None]] = {}
_generations: dict[str, int] = {}


def caller_index(call) -> RuleIndex | None:
    """CALL's caller's rule index over the six kinds, or None when no rule bears on them
    (an administrator, or no rule covers anything)."""
    workspace_id = call.workspace_id or ""
    key = (workspace_id, call.user_id or "", call.is_impersonated)
    generation = _generations.get(workspace_id, 0)
    found = _indexes.get(key)
    now = time.monotonic()
    if found is not None and found[0] == generation and now - found[1] < INDEX_TTL:
        return found[2]
    membership = call.membership
    index = None
    if membership is not None and not membership.is_admin:
        built = rule_index(membership, KINDS)
        if any(rules.whole_kind_covered or rules.ranks_by_id for rules in built.kinds.values()):
            index = built
    if len(_indexes) > 100_000:
        _indexes.clear()
    if _generations.get(workspace_id, 0) == generation:  # not changed while we read
        _indexes[key] = (generation, now, index)
    return index


# --- refusing ------------------------------------------------------------------------------------------


def _label(upstream, kind: str, object_id: str) -> str:
    try:
        names = up.names_of(kind)(workspace=upstream.workspace_id, ids=[object_id])
    except Exception:  # naming is a courtesy: the refusal stands without it
        names = {}
    name = names.get(object_id)
    return f"{kind} '{name}' ({object_id})" if name else f"{kind} {object_id}"


def refuse(
    view: View, kind: str, object_id: str, rank: int, *, by_ids: bool = False, what: str = "modify"
) -> None:
    """Missing for a hidden object, 403 naming the object and the limiting rule for a read-only one."""
    if rank < 1:
        raise missing(kind, object_id, view.company, by_ids=by_ids)
    membership = view.forwarded.call.membership
    label = _label(view.upstream, kind, object_id)
    try:
        chain = up.chain_of(view.upstream, ObjectRef(kind, object_id), tree=view.tree)
        labels = {
            ref: f"{ref.kind} '{view.tree.names[ref.id]}'"
            for ref in chain
            if ref.kind in (PROJECT, DATASET) and ref.id in view.tree.names
        }
        labels[ObjectRef(kind, object_id)] = label
        why = explain(membership, ObjectRef(kind, object_id), chain=chain, labels=labels)
        rules = [r for r in why.reasons if r.kind == "rule" and r.grants] or [
            r for r in why.reasons if r.kind == "rule"
        ]
        reason = rules[0].text if rules else ""
    except Exception:
        logger.exception("explaining a refusal failed")
        reason = ""
    raise AccessRuleDenied(
        f"you have Read Only access to {label} and need Read & Modify to {what} it. {reason}".strip()
    )


def need(view: View | None, kind: str, object_id, action: str, *, by_ids: bool = False, what: str = "modify"):
    if view is None or not isinstance(object_id, str) or not object_id:
        return
    rank = view.rank(kind, object_id)
    if rank < RANK[action]:
        refuse(view, kind, object_id, rank, by_ids=by_ids, what=what)


def need_project(view: View | None, project_id, action: str = MODIFY, *, what: str = "create in"):
    if view is None or not isinstance(project_id, str) or not project_id:
        return
    rank = view.project_rank(project_id)
    if rank < RANK[action]:
        refuse(view, PROJECT, project_id, rank, what=what)


def _ids(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and not v.startswith("__$")]
    return []


# --- listings --------------------------------------------------------------------------------------------


def _narrow_ids(
    body: dict, *, hidden: set[str] | None = None, visible: set[str] | None = None, listing: bool = True
) -> None:
    """Keep out of BODY's listing the ids HIDDEN (or keep only VISIBLE), whatever filter on `id`
    the caller wrote (operators, `filters`: access/list_filters.py). LISTING: a get_all, where
    the server's leaving out of `hidden` objects depends on whether ids were given (counts of
    organization.get_entities_count decide it otherwise)."""
    gave_ids = body.get("id") is not None
    allowed = Keep.ids(visible) if visible is not None else Keep.all_but(hidden or ())
    lf.narrow(body, "id", allowed)
    if listing and not gave_ids and body.get("id") is not None and not body.get("search_hidden"):
        # The server stops leaving out `hidden` objects when ids are given: keep them out.
        body["system_tags"] = [*_as_list(body.get("system_tags")), "__$not", "hidden"]


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def narrow_projects(view: View, body: dict, *, listing: bool = True) -> None:
    covers = view.project_covers()
    hidden = {pid for pid, c in covers.items() if c.rank < 1}
    if not hidden:
        return
    visible = set(covers) - hidden
    if len(visible) < len(hidden):
        _narrow_ids(body, visible=visible, listing=listing)
    else:
        _narrow_ids(body, hidden=hidden, listing=listing)
    if body.get("include_stats"):
        if view.hides_children() or (
            body.get("children_type") == "dataset" and _hidden_below_visible(view, hidden)
        ):
            body["include_stats"] = False  # per-project counts would count hidden objects
        elif body.get("stats_with_children", True) and _hidden_below_visible(view, hidden):
            # The server would add hidden sub-projects' tasks to their parents' counts and name
            # them in `sub_projects`: it counts each project's own tasks, and the answer's
            # rewriter adds those of the visible sub-projects (answers.project_stats).
            body["stats_with_children"] = False
            view.notes["stats_of_children"] = {k: body[k] for k in STATS_PARAMETERS if k in body}


def _hidden_below_visible(view: View, hidden: set[str]) -> bool:
    """Is a hidden project under a visible one (so a visible project's figures would count it)?"""
    tree = view.tree
    return any(parent not in hidden for pid in hidden for parent in tree.parent_ids(pid))


# What decides a project's counts in projects.get_all_ex (copied into the rewriter's own call).
STATS_PARAMETERS = (
    "stats_for_state",
    "search_hidden",
    "include_stats_filter",
    "children_type",
    "children_tags",
    "children_tags_filter",
    "active_users",
)


def narrow_children(
    view: View, kind: str, body: dict, *, subprojects: bool = False, listing: bool = True
) -> None:
    """Tasks or models: leave out those the caller may not read (see the module's docstring).
    SUBPROJECTS: the endpoint reads `include_subprojects` (the *_ex listings)."""
    rules = view.index.kinds[kind]
    covers = view.project_covers() if view.bears_on(PROJECT) and _project_rules(view) else {}
    hidden_projects = {pid for pid, c in covers.items() if c.covered and c.best < 1}
    granting_projects = {pid for pid, c in covers.items() if c.covered and c.best >= 1}
    explicit = dict(rules.ranks_by_id)
    parents = up.parent_projects(view.upstream, kind, list(explicit)) if explicit else {}
    if rules.whole_kind_covered and rules.whole_kind_rank >= 1:
        return  # every object is covered and readable
    if rules.whole_kind_covered:
        # Everything is covered: visible = granted explicitly, or in a project whose rules grant.
        granted = {i for i, r in explicit.items() if r >= 1}
        if granting_projects:
            granted |= up.children_of(view.upstream, kind, granting_projects)
        _narrow_ids(body, visible=granted, listing=listing)
        return
    hidden_ids = set()
    for object_id, rank in explicit.items():
        if rank < 1 and parents.get(object_id) not in granting_projects:
            hidden_ids.add(object_id)
    exceptions = {i for i, r in explicit.items() if r >= 1 and parents.get(i) in hidden_projects}
    if exceptions:
        # A task granted in a project that hides its siblings: the siblings are left out by id
        # (the server's filters are a conjunction), the other hidden projects by project.
        with_exceptions = {parents[i] for i in exceptions}
        hidden_ids |= up.children_of(view.upstream, kind, with_exceptions) - exceptions
        hidden_projects = hidden_projects - with_exceptions
    # (an object in a project left out as a whole needs no term of its own)
    hidden_ids = {i for i in hidden_ids if parents.get(i) not in hidden_projects}
    if hidden_projects:
        # The server widens a `project` filter with sub-projects by a set (operators lose their
        # order there): the widening is done here, and the server told not to.
        widen = subprojects and body.get("include_subprojects")
        visible_projects = set(view.tree.names) - hidden_projects
        # The shorter list: the hidden projects left out, or the visible ones (and no project) kept.
        if len(visible_projects) < len(hidden_projects):
            allowed = Keep(only=frozenset(visible_projects), empty=True)
        else:
            allowed = Keep.all_but(hidden_projects)
        lf.narrow(body, "project", allowed, expand=view.tree.descendants if widen else None)
        if subprojects:
            body.pop("include_subprojects", None)
    if hidden_ids:
        _narrow_ids(body, hidden=hidden_ids, listing=listing)


def _project_rules(view: View) -> bool:
    return any(
        view.index.kinds[k].whole_kind_covered or view.index.kinds[k].ranks_by_id for k in (PROJECT, DATASET)
    )


def narrow_queues(view: View, body: dict) -> None:
    rules = view.index.kinds[QUEUE]
    if rules.whole_kind_covered and rules.whole_kind_rank < 1:
        lf.narrow(body, "id", Keep.ids(i for i, r in rules.ranks_by_id.items() if r >= 1))
    elif not rules.whole_kind_covered:
        hidden = {i for i, r in rules.ranks_by_id.items() if r < 1}
        if hidden:
            lf.narrow(body, "id", Keep.all_but(hidden))


# --- which workspaces have rules (the hot path: no query) ----------------------------------------------

RULES_CHANGED = "access-rules"
RULES_TTL = 30.0  # the safety net while the pub/sub channel is down
_present: dict[str, tuple[float, bool]] = {}
_present_lock = threading.Lock()


def rules_present(workspace_id: str | None) -> bool:
    """Has WORKSPACE_ID (hex) any Access Rule? From this process's cache (one query per TTL)."""
    if not workspace_id:
        return False
    found = _present.get(workspace_id)
    now = time.monotonic()
    if found is not None and now - found[0] < RULES_TTL:
        return found[1]
    value = AccessRule.objects.filter(workspace_id=workspace_id).exists()
    with _present_lock:
        if len(_present) > 100_000:
            _present.clear()
        _present[workspace_id] = (now, value)
    return value


def rules_changed(workspace_id: str = "") -> None:
    """Rules, groups or memberships of WORKSPACE_ID (hex; "" every workspace) changed."""
    with _present_lock:
        if workspace_id:
            _present.pop(workspace_id, None)
            _generations[workspace_id] = _generations.get(workspace_id, 0) + 1
        else:
            _present.clear()
            for key in list(_generations):
                _generations[key] += 1
            _indexes.clear()


def _changed_in(workspace_id) -> None:
    workspace_id = getattr(workspace_id, "hex", str(workspace_id or "")).replace("-", "")
    rules_changed(workspace_id)  # this process at once (and at commit, for a racing reader)
    transaction.on_commit(
        lambda: (rules_changed(workspace_id), revocation.publish(RULES_CHANGED, workspace_id))
    )


def _publish_rules_changed(sender, instance, **kwargs) -> None:
    """AccessRule, UserGroup or Membership saved or deleted; rule targets changed."""
    _changed_in(instance.workspace_id)


def _publish_group_members_changed(sender, instance, **kwargs) -> None:
    """GroupMembership saved or deleted."""
    workspace_id = (
        UserGroup.objects.filter(pk=instance.group_id).values_list("workspace_id", flat=True).first()
    )
    if workspace_id is not None:
        _changed_in(workspace_id)


def _publish_m2m_changed(sender, instance, **kwargs) -> None:
    """Rule targets (AccessRule.users / .groups) or group members changed through a relation."""
    workspace_id = getattr(instance, "workspace_id", None)
    if workspace_id is not None:
        _changed_in(workspace_id)
    else:  # a user's side of the relation: every workspace (rare: bulk edits from the user)
        rules_changed()


def wants(call) -> bool:
    """Does Access Rules need to see this call? (No query when the workspace has no rule.)"""
    return (
        call.endpoint in QUEUE_ADMIN or call.endpoint == "queues.update" or rules_present(call.workspace_id)
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
# Aggregates over a list of projects (`projects`): narrowed to the projects the caller may read.
# Those marked True also read `include_subprojects` (default true): the widening is done here.
PROJECT_AGGREGATES = {
    "tasks.get_types": False,
    "models.get_frameworks": False,
    "projects.get_task_tags": False,
    "projects.get_model_tags": False,
    "projects.get_hyperparam_values": True,
    "projects.get_task_parents": True,
    "projects.get_model_metadata_values": True,
    "projects.get_user_names": True,
}
# Aggregates over one project (`project`, none: the whole server) and its sub-projects.
ONE_PROJECT_AGGREGATES = {
    "projects.get_unique_metric_variants",
    "projects.get_hyper_parameters",
    "projects.get_model_metadata_keys",
}
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
    named = _ids(body.get("task")) + _ids(body.get("tasks")) + _ids(body.get("model"))
    for entry in body.get("metrics") or [] if isinstance(body.get("metrics"), list) else []:
        if isinstance(entry, dict):
            named += _ids(entry.get("task"))
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
QUEUE_ADMIN = {"queues.create", "queues.delete"}


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
        _ids_with_joined_names(body)
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
        for object_id in _ids(body.get(key)):
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
        for object_id in _ids(body.get("task")) + _ids(body.get("ids")) + _ids(body.get("tasks")):
            need(view, TASK, object_id, MODIFY, what=name.split(".", 1)[1].replace("_", " "))
        if name == "tasks.enqueue":
            need(view, QUEUE, body.get("queue"), MODIFY, what="enqueue into")
        if name in ("tasks.move", "tasks.edit", "tasks.update") and body.get("project"):
            need_project(view, body.get("project"), what="move tasks into")


def narrow_aggregate(view: View, name: str, body: dict) -> None:
    hidden = view.hidden_projects()
    if not hidden:
        return
    asked = _ids(body.get("projects"))
    widen = PROJECT_AGGREGATES[name] and body.get("include_subprojects", True) is not False
    wanted = set(view.tree.names)
    if asked:
        wanted = view.tree.descendants(asked) if widen else set(asked)
    body["projects"] = sorted(wanted - hidden) or [NOTHING]
    if PROJECT_AGGREGATES[name]:
        body["include_subprojects"] = False


def narrow_one_project_aggregate(view: View, body: dict) -> None:
    """One project's figures must not include a hidden sub-project's; without a project (the
    whole server) they cannot be narrowed to a list: the answer is that of no project."""
    hidden = view.hidden_projects()
    project = body.get("project")
    if isinstance(project, str) and project:
        need(view, PROJECT, project, READ)
        if body.get("include_subprojects", True) is not False and hidden & view.tree.descendants([project]):
            body["include_subprojects"] = False
    elif hidden:
        body["project"] = NOTHING
        body["include_subprojects"] = False


def _ids_with_joined_names(body: dict) -> None:
    """A joined name asked for ("parent.name") comes with its id, so that the answer's rewriter
    (access/answers.py, joined_names) knows whose name it is."""
    only = body.get("only_fields")
    if isinstance(only, list):
        for key in ("parent", "task", "project"):
            if f"{key}.name" in only and f"{key}.id" not in only and key not in only:
                only.append(f"{key}.id")


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
    for object_id in _ids(body.get("task")) + _ids(body.get("model")) + _ids(body.get("ids")):
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
)


def register() -> None:
    before_forward(*CHECKED, when=wants)(check)
    for model in (AccessRule, UserGroup, Membership):
        post_save.connect(
            _publish_rules_changed, sender=model, dispatch_uid=f"access-rules-{model.__name__}-s"
        )
        post_delete.connect(
            _publish_rules_changed, sender=model, dispatch_uid=f"access-rules-{model.__name__}-d"
        )
    post_save.connect(
        _publish_group_members_changed, sender=GroupMembership, dispatch_uid="access-rules-gm-s"
    )
    post_delete.connect(
        _publish_group_members_changed, sender=GroupMembership, dispatch_uid="access-rules-gm-d"
    )
    for through in (AccessRule.users.through, AccessRule.groups.through, UserGroup.members.through):
        m2m_changed.connect(
            _publish_m2m_changed, sender=through, dispatch_uid=f"access-rules-m2m-{through.__name__}"
        )
    revocation.add_listener(RULES_CHANGED, rules_changed)
    revocation.add_listener(PROJECTS_CHANGED, _tree_dropped)
    revocation.add_listener(CHILDREN_CHANGED, _children_dropped)
    after_forward("projects.create", "projects.update", "projects.delete", "projects.move", "projects.merge")(
        projects_changed
    )
    after_forward("tasks.edit", "tasks.update", "tasks.move", "models.update", "models.edit", "models.move")(
        parent_changed
    )
    after_forward("tasks.create", "tasks.clone", "models.create", "models.update_for_task")(children_changed)
