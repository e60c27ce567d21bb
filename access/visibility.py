"""What one caller may see on one ClearML server: the Access Rules' view of a forwarded call
(docs/gateway.md, "Access Rules at the gateway"). Used by the gateway's hooks
(access/gateway.py), the listings' narrowing (access/narrowing.py) and the answers' rewriters
(access/answers.py).

- `view_of(forwarded)`: the caller's View, built once per call from their rule index
  (access.permissions.rule_index over the six kinds: no query for an administrator, one when
  the workspace has no rule, three otherwise, whatever the number of rules; kept per process
  and dropped on every process when a rule, a group's members or a membership changes);
  None when no rule bears on the caller;
- a View answers the caller's rank on an object (0 none, 1 read, 2 read & modify) from the
  object's chain: itself, its project and the projects above (the server's project tree,
  access/upstream.py);
- `refuse`/`need`: a hidden object gets the server's own answer for a missing one (400/101
  `Invalid task id`, 400/401, 400/201, 400/701), a Read Only one a 403 naming the object and
  the rule that limits the caller.

An impersonated token acts as its owner (call.user), with a member's role.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from gateway.interception import Forwarded
from settings_portal.api import errors
from workspaces import revocation
from workspaces.models import Membership

from . import upstream as up
from .kinds import ObjectRef
from .models import AccessRule, GroupMembership, UserGroup
from .permissions import MODIFY, RANK, RuleIndex, explain, rule_index

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


def ids_of(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and not v.startswith("__$")]
    return []


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


# Queues are created and deleted (and renamed, with queues.update) by Queue admins only, rules or not.
QUEUE_ADMIN = {"queues.create", "queues.delete"}


def wants(call) -> bool:
    """Does Access Rules need to see this call? (No query when the workspace has no rule.)"""
    return (
        call.endpoint in QUEUE_ADMIN or call.endpoint == "queues.update" or rules_present(call.workspace_id)
    )


def rules_followed() -> None:
    """Follow what changes a caller's view: rules, groups, group members and memberships (saved,
    deleted, or their relations edited), in this process and, over the revocation channel, in
    every other."""
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
