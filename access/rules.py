"""Access Rules: who may read or modify the portal's queues and tasks (jobs).

`can()` is the one check. Without a rule covering an object every member may read and modify it;
once rules cover it, only their targets (users, service accounts, or members of a target group) get
the rules' permission. Administrators always have full access. A rule on a queue covers the jobs in
it; a rule on one task covers that task only. The services below are audit-logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.db.models.functions import Lower

from workspaces.audit import audit_log

from .models import AccessRule, UserGroup
from .selectors import user_group_ids

QUEUE = AccessRule.ResourceType.QUEUE
TASK = AccessRule.ResourceType.TASK
READ = AccessRule.Permission.READ
MODIFY = AccessRule.Permission.READ_MODIFY
_RANK = {READ: 1, MODIFY: 2}


def _covering(workspace, resource_type: str, obj) -> Q:
    """The rules that govern OBJ (None: the rules on every object of the type)."""

    def of(kind, pk) -> Q:
        q = Q(resource_type=kind, object_id__isnull=True)
        return q | Q(resource_type=kind, object_id=pk) if pk is not None else q

    pk = getattr(obj, "pk", None)
    if resource_type == QUEUE:
        return of(QUEUE, pk)
    if resource_type == TASK:
        covering = of(TASK, pk)
        queue_id = getattr(obj, "queue_id", None)
        return covering | of(QUEUE, queue_id) if queue_id is not None else covering
    raise ValueError(f"unknown resource type {resource_type!r}")


def can(user, workspace, resource_type: str, obj, permission: str, *, membership=None) -> bool:
    """May USER have PERMISSION (read | read_modify) on OBJ (a Queue, or a Job for `task`)?

    MEMBERSHIP: USER's membership as the caller sees it (the API passes `call.membership`,
    whose role is capped at member under impersonation); loaded when not given.
    """
    from workspaces.models import Membership

    if user is None or not getattr(user, "pk", None):
        return False
    if membership is None:
        membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None:
        return False
    if membership.is_admin:
        return True
    rules = AccessRule.objects.for_workspace(workspace).filter(_covering(workspace, resource_type, obj))
    if not rules.exists():
        return True
    groups = user_group_ids(workspace=workspace, user=user, membership=membership)
    granted = set(
        rules.filter(Q(users=user) | Q(groups__in=groups)).values_list("permission", flat=True).distinct()
    )
    return any(_RANK[g] >= _RANK[permission] for g in granted)


# --- Selectors --------------------------------------------------------------------------------------


@dataclass
class RuleRow:
    rule: AccessRule
    object_label: str
    users: list = field(default_factory=list)
    service_accounts: list = field(default_factory=list)
    groups: list = field(default_factory=list)


def resource_objects(*, workspace, resource_type: str, query: str = "", limit: int = 50, pk=None) -> list:
    """The queues or tasks (jobs) of WORKSPACE whose name contains QUERY (or the one PK): [(id, label)]."""
    from resources.models import Job, Queue

    if resource_type == QUEUE:
        qs = Queue.objects.for_workspace(workspace)
        if pk is not None:
            qs = qs.filter(pk=pk)
        if query:
            qs = qs.filter(name__icontains=query)
        return [(key, name) for key, name in qs.order_by(Lower("name")).values_list("pk", "name")[:limit]]
    if resource_type == TASK:
        qs = Job.objects.for_workspace(workspace)
        if pk is not None:
            qs = qs.filter(pk=pk)
        if query:
            qs = qs.filter(Q(name__icontains=query) | Q(task_id__icontains=query))
        rows = qs.order_by("-id").values_list("pk", "name", "queue_name")[:limit]
        return [(key, f"{name} ({queue})" if queue else name) for key, name, queue in rows]
    return []


def object_labels(*, workspace, rules) -> dict:
    """{(resource type, id): name} for the objects the RULES name, in at most two queries."""
    from resources.models import Job, Queue

    wanted: dict = {QUEUE: set(), TASK: set()}
    for rule in rules:
        if rule.object_id is not None:
            wanted[rule.resource_type].add(rule.object_id)
    labels = {}
    if wanted[QUEUE]:
        for pk, name in (
            Queue.objects.for_workspace(workspace).filter(pk__in=wanted[QUEUE]).values_list("pk", "name")
        ):
            labels[(QUEUE, pk)] = name
    if wanted[TASK]:
        for pk, name in (
            Job.objects.for_workspace(workspace).filter(pk__in=wanted[TASK]).values_list("pk", "name")
        ):
            labels[(TASK, pk)] = name
    return labels


def rule_list(*, workspace, resource_type: str = "", target: str = "") -> list[RuleRow]:
    """The Access Rules table, filtered by resource type and by target name; bounded queries."""
    from accounts.models import User

    rules = AccessRule.objects.for_workspace(workspace).prefetch_related(
        Prefetch(
            "users", queryset=User.objects.select_related("service_account").order_by(Lower("username"))
        ),
        Prefetch("groups", queryset=UserGroup.objects.order_by(Lower("name"))),
    )
    if resource_type in (QUEUE, TASK):
        rules = rules.filter(resource_type=resource_type)
    if target:
        rules = rules.filter(
            Q(users__username__icontains=target)
            | Q(users__email__icontains=target)
            | Q(users__service_account__name__icontains=target)
            | Q(groups__name__icontains=target)
        ).distinct()
    rules = list(rules)
    labels = object_labels(workspace=workspace, rules=rules)
    rows = []
    for rule in rules:
        if rule.object_id is None:
            label = f"All {rule.get_resource_type_display().lower()}"
        else:
            label = labels.get((rule.resource_type, rule.object_id), f"#{rule.object_id} (deleted)")
        users = list(rule.users.all())
        rows.append(
            RuleRow(
                rule,
                label,
                users=[u for u in users if not u.is_service_account],
                service_accounts=[u for u in users if u.is_service_account],
                groups=list(rule.groups.all()),
            )
        )
    return rows


def target_search(*, workspace, query: str = "", exclude_users=(), exclude_groups=(), limit: int = 20):
    """Members (users, service accounts) and groups of WORKSPACE matching QUERY, for the picker."""
    from .selectors import member_search

    users = member_search(workspace=workspace, query=query, exclude=exclude_users, limit=limit)
    groups = UserGroup.objects.for_workspace(workspace).exclude(pk__in=list(exclude_groups))
    if query:
        groups = groups.filter(name__icontains=query)
    return users, list(groups.order_by(Lower("name"))[:limit])


# --- Services ---------------------------------------------------------------------------------------


def _validated(*, workspace, resource_type, object_id, permission, user_ids, group_ids):
    from accounts.models import User
    from resources.models import Job, Queue

    errors = {}
    if resource_type not in AccessRule.ResourceType.values:
        errors["resource_type"] = "Choose queues or tasks."
    elif object_id is not None:
        model = Queue if resource_type == QUEUE else Job
        if not model.objects.for_workspace(workspace).filter(pk=object_id).exists():
            errors["object"] = "No such object in this workspace."
    if permission not in AccessRule.Permission.values:
        errors["permission"] = "Choose Read Only or Read & Modify."
    users = list(User.objects.filter(pk__in=list(user_ids), memberships__workspace=workspace))
    groups = list(UserGroup.objects.for_workspace(workspace).filter(pk__in=list(group_ids)))
    if len(users) != len(set(user_ids)) or len(groups) != len(set(group_ids)):
        errors["targets"] = "Some targets are not members or groups of this workspace."
    elif not users and not groups:
        errors["targets"] = "Add at least one user, service account or group."
    if errors:
        raise ValidationError(errors)
    return users, groups


def _snapshot(rule: AccessRule) -> dict:
    return {
        "resource_type": rule.resource_type,
        "object_id": rule.object_id,
        "permission": rule.permission,
        "users": sorted(str(pk) for pk in rule.users.values_list("pk", flat=True)),
        "groups": sorted(rule.groups.values_list("pk", flat=True)),
    }


@transaction.atomic
def rule_create(
    *, workspace, actor, resource_type, object_id, permission, user_ids=(), group_ids=()
) -> AccessRule:
    users, groups = _validated(
        workspace=workspace,
        resource_type=resource_type,
        object_id=object_id,
        permission=permission,
        user_ids=user_ids,
        group_ids=group_ids,
    )
    rule = AccessRule.objects.create(
        workspace=workspace,
        resource_type=resource_type,
        object_id=object_id,
        permission=permission,
        created_by=actor,
    )
    rule.users.set(users)
    rule.groups.set(groups)
    audit_log(
        actor=actor, action="access_rule.create", workspace=workspace, target=rule, after=_snapshot(rule)
    )
    return rule


@transaction.atomic
def rule_update(*, rule: AccessRule, actor, resource_type, object_id, permission, user_ids=(), group_ids=()):
    users, groups = _validated(
        workspace=rule.workspace,
        resource_type=resource_type,
        object_id=object_id,
        permission=permission,
        user_ids=user_ids,
        group_ids=group_ids,
    )
    before = _snapshot(rule)
    rule.resource_type, rule.object_id, rule.permission = resource_type, object_id, permission
    rule.save(update_fields=["resource_type", "object_id", "permission"])
    rule.users.set(users)
    rule.groups.set(groups)
    after = _snapshot(rule)
    changed = [key for key in after if after[key] != before[key]]
    audit_log(
        actor=actor,
        action="access_rule.update",
        workspace=rule.workspace,
        target=rule,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: AccessRule, actor) -> None:
    before = _snapshot(rule)
    label = str(rule)
    audit_log(
        actor=actor,
        action="access_rule.delete",
        workspace=rule.workspace,
        target=rule,
        target_label=label,
        before=before,
    )
    rule.delete()
