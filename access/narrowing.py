"""Listings narrowed to what the caller may read, before they reach the ClearML server
(docs/gateway.md, "Access Rules at the gateway"): filters are added that leave out what the
caller may not read (`id` / `project` with the server's `__$not` operator, or the ids they may
read), written over the caller's own filter as the server reads it (access/list_filters.py), so
the server pages and counts only what is visible; aggregates over projects
(`tasks.get_types`, `projects.get_task_tags`, ...) are narrowed to the visible projects.

What a caller's rules leave out of task and model listings (a ChildrenPlan: the projects kept,
the ids left out) does not depend on the request: it is computed once and kept with the
caller's rule index and the project tree while the copies it used hold, and each listing only
writes it over its own filters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import list_filters as lf
from . import upstream as up
from .list_filters import NOTHING, Keep
from .permissions import READ
from .visibility import DATASET, PROJECT, QUEUE, View, ids_of, need

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


@dataclass(frozen=True)
class ChildrenPlan:
    """What leaves a caller's hidden tasks (or models) out of any listing: nothing (EVERYTHING
    readable), only the ids VISIBLE (every object covered), or the projects PROJECTS keeps and
    the ids HIDDEN_IDS leaves out."""

    everything: bool = False
    visible: frozenset[str] | None = None
    projects: Keep | None = None
    hidden_ids: frozenset[str] = frozenset()


# (rule index, tree, kind) -> the plan, for as long as the copies it was computed from hold
# (access.upstream.generation, and at most the members' lifetime): a busy caller's listings
# cost no recomputation.
_plans: dict[tuple[int, int, str], tuple[object, object, int, float, ChildrenPlan]] = {}


def children_plan(view: View, kind: str) -> ChildrenPlan:
    key = (id(view.index), id(view.tree), kind)
    found = _plans.get(key)
    now = time.monotonic()
    if (
        found is not None
        and found[0] is view.index
        and found[1] is view.tree
        and found[2] == up.generation()
        and now - found[3] < up.CHILDREN_TTL
    ):
        return found[4]
    generation = up.generation()
    plan = _children_plan(view, kind)
    if len(_plans) > 1000:
        _plans.clear()
    _plans[key] = (view.index, view.tree, generation, now, plan)
    return plan


def _children_plan(view: View, kind: str) -> ChildrenPlan:
    rules = view.index.kinds[kind]
    if rules.whole_kind_covered and rules.whole_kind_rank >= 1:
        return ChildrenPlan(everything=True)  # every object is covered and readable
    covers = view.project_covers() if view.bears_on(PROJECT) and _project_rules(view) else {}
    hidden_projects = {pid for pid, c in covers.items() if c.covered and c.best < 1}
    granting_projects = {pid for pid, c in covers.items() if c.covered and c.best >= 1}
    explicit = dict(rules.ranks_by_id)
    parents = up.parent_projects(view.upstream, kind, list(explicit)) if explicit else {}
    if rules.whole_kind_covered:
        # Everything is covered: visible = granted explicitly, or in a project whose rules grant.
        granted = {i for i, r in explicit.items() if r >= 1}
        if granting_projects:
            granted |= up.children_of(view.upstream, kind, granting_projects)
        return ChildrenPlan(visible=frozenset(granted))
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
    projects = None
    if hidden_projects:
        visible_projects = set(view.tree.names) - hidden_projects
        # The shorter list: the hidden projects left out, or the visible ones (and no project) kept.
        if len(visible_projects) < len(hidden_projects):
            projects = Keep(only=frozenset(visible_projects), empty=True)
        else:
            projects = Keep.all_but(hidden_projects)
    return ChildrenPlan(projects=projects, hidden_ids=frozenset(hidden_ids))


def narrow_children(
    view: View, kind: str, body: dict, *, subprojects: bool = False, listing: bool = True
) -> None:
    """Tasks or models: leave out those the caller may not read (see the module's docstring).
    SUBPROJECTS: the endpoint reads `include_subprojects` (the *_ex listings)."""
    plan = children_plan(view, kind)
    if plan.everything:
        return
    if plan.visible is not None:
        _narrow_ids(body, visible=set(plan.visible), listing=listing)
        return
    if plan.projects is not None:
        # The server widens a `project` filter with sub-projects by a set (operators lose their
        # order there): the widening is done here, and the server told not to.
        widen = subprojects and body.get("include_subprojects")
        lf.narrow(body, "project", plan.projects, expand=view.tree.descendants if widen else None)
        if subprojects:
            body.pop("include_subprojects", None)
    if plan.hidden_ids:
        _narrow_ids(body, hidden=set(plan.hidden_ids), listing=listing)


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


# --- aggregates over projects -----------------------------------------------------------------------------

# Aggregates over a list of projects (`projects`): narrowed to the projects the caller may read.
# FLAG: the endpoint reads `include_subprojects` (default true): the widening is done here and the
# server told not to. ALWAYS: the server widens each project with all its sub-projects, whatever
# is asked (the tags caches: project_ids_with_children), or may (types, frameworks: assumed so):
# only projects with nothing hidden below them are sent, which leaves out the own objects of a
# visible project above a hidden one (less than the server would show, never more).
FLAG, ALWAYS = "flag", "always"
PROJECT_AGGREGATES = {
    "tasks.get_types": ALWAYS,
    "models.get_frameworks": ALWAYS,
    "projects.get_task_tags": ALWAYS,
    "projects.get_model_tags": ALWAYS,
    "projects.get_project_tags": ALWAYS,
    "projects.get_hyperparam_values": FLAG,
    "projects.get_task_parents": FLAG,
    "projects.get_model_metadata_values": FLAG,
    "projects.get_user_names": FLAG,
}
# Aggregates over one project (`project`, none: the whole server) and its sub-projects.
ONE_PROJECT_AGGREGATES = {
    "projects.get_unique_metric_variants",
    "projects.get_hyper_parameters",
    "projects.get_model_metadata_keys",
}


def narrow_aggregate(view: View, name: str, body: dict) -> None:
    hidden = view.hidden_projects()
    if not hidden:
        return
    asked = ids_of(body.get("projects"))
    how = PROJECT_AGGREGATES[name]
    widen = how == ALWAYS or body.get("include_subprojects", True) is not False
    wanted = set(view.tree.names)
    if asked:
        wanted = view.tree.descendants(asked) if widen else set(asked)
    sent = wanted - hidden
    if how == ALWAYS:
        sent -= above_hidden(view, hidden)
    body["projects"] = sorted(sent) or [NOTHING]
    if how == FLAG:
        body["include_subprojects"] = False


def above_hidden(view: View, hidden: set[str]) -> set[str]:
    """The projects with a hidden project somewhere below them."""
    return {parent for pid in hidden for parent in view.tree.parent_ids(pid)}


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


def ids_with_joined_names(body: dict) -> None:
    """A joined name asked for ("parent.name") comes with its id, so that the answer's rewriter
    (access/answers.py, joined_names) knows whose name it is."""
    only = body.get("only_fields")
    if isinstance(only, list):
        for key in ("parent", "task", "project"):
            if f"{key}.name" in only and f"{key}.id" not in only and key not in only:
                only.append(f"{key}.id")
