"""The Access Rules page's reads: the filtered, paginated table and the labels of the objects rules name.

The table is filtered in SQL (resource type, users, groups, service accounts) and by the objects'
names through each kind's SEARCH (access.kinds: upstream objects behind the gateway, the portal's
own otherwise), so a page costs the same number of queries whatever the number of rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.db.models.functions import Lower

from accounts.models import User

from . import kinds as object_kinds
from .models import AccessRule, UserGroup
from .selectors import RuleRow, object_labels

RULES_PAGE_SIZE = 50
# How many objects of one kind a name filter may match (a kind's search is bounded).
OBJECT_FILTER_LIMIT = 500


@dataclass(frozen=True)
class RuleFilters:
    """The table's filters: VIEW (a resource type, "" for all), the object's name, and the
    users, groups and service accounts a rule targets (parts of their names)."""

    view: str = ""
    object: str = ""
    users: str = ""
    groups: str = ""
    service_accounts: str = ""

    def __bool__(self) -> bool:
        return any((self.view, self.object, self.users, self.groups, self.service_accounts))


def type_label(resource_type: str) -> str:
    """ "Projects" for "project": the label of the resource type (its choice label)."""
    return dict(AccessRule.ResourceType.choices).get(resource_type, resource_type)


def whole_type_label(resource_type: str) -> str:
    return f"All {type_label(resource_type).lower()}"


def _safe_search(kind, *, workspace, query: str, limit: int, unanswered: set | None = None) -> list:
    """KIND's search, or [] when the objects' owner cannot answer (the ClearML server is down):
    a filter then matches objects by id only (KIND's name is added to UNANSWERED) instead of
    failing the page."""
    try:
        return list(kind.search(workspace=workspace, query=query, pk=None, limit=limit))
    except object_kinds.ObjectsUnavailable:
        if unanswered is not None:
            unanswered.add(kind.name)
        return []


def _object_filter(workspace, resource_types: list[str], text: str, unanswered: set | None = None) -> Q:
    """Rules whose object's name (or id) contains TEXT, or whose whole-type label does."""
    wanted = Q(pk__in=[])  # matches nothing; the matches are OR-ed in below
    lowered = text.lower()
    for resource_type in resource_types:
        if lowered in whole_type_label(resource_type).lower():
            wanted |= Q(resource_type=resource_type, object_id__isnull=True)
        kind = object_kinds.kind_for(workspace, resource_type)
        ids = []
        if kind is not None and kind.search is not None:
            ids = [
                pk
                for pk, _ in _safe_search(
                    kind, workspace=workspace, query=text, limit=OBJECT_FILTER_LIMIT, unanswered=unanswered
                )
            ]
        ids.append(text)  # an object's id typed in full
        wanted |= Q(resource_type=resource_type, object_id__in=[str(pk) for pk in ids])
    return wanted


def rule_page(
    *,
    workspace,
    filters: RuleFilters,
    page_number=None,
    page_size: int | None = None,
    unanswered: set | None = None,
) -> tuple[Page, list[RuleRow]]:
    """One page of the Access Rules table under FILTERS, and its rows (object labels, targets).

    The resource types whose objects could not be matched by name (their ClearML server did not
    answer; the object filter then matched them by id only) are added to UNANSWERED.

    Queries: a count, the page, its users and its groups, and one name lookup per portal-stored
    kind on the page; the same whatever the number of rules or targets.
    """
    rules = AccessRule.objects.for_workspace(workspace)
    resource_types = list(AccessRule.ResourceType.values)
    if filters.view in resource_types:
        rules = rules.filter(resource_type=filters.view)
        resource_types = [filters.view]
    targeted = AccessRule.users.through.objects.filter(accessrule_id=OuterRef("pk"))
    if filters.users:
        rules = rules.filter(
            Exists(
                targeted.filter(user__is_service_account=False).filter(
                    Q(user__username__icontains=filters.users) | Q(user__email__icontains=filters.users)
                )
            )
        )
    if filters.service_accounts:
        rules = rules.filter(
            Exists(
                targeted.filter(user__is_service_account=True).filter(
                    Q(user__service_account__name__icontains=filters.service_accounts)
                    | Q(user__username__icontains=filters.service_accounts)
                )
            )
        )
    if filters.groups:
        rules = rules.filter(
            Exists(
                AccessRule.groups.through.objects.filter(
                    accessrule_id=OuterRef("pk"), usergroup__name__icontains=filters.groups
                )
            )
        )
    if filters.object:
        rules = rules.filter(_object_filter(workspace, resource_types, filters.object, unanswered))
    rules = rules.prefetch_related(
        Prefetch(
            "users", queryset=User.objects.select_related("service_account").order_by(Lower("username"))
        ),
        Prefetch("groups", queryset=UserGroup.objects.order_by(Lower("name"))),
    ).order_by("resource_type", "object_id", "id")
    page = Paginator(rules, page_size or RULES_PAGE_SIZE).get_page(page_number)
    page_rules = list(page.object_list)
    labels = safe_object_labels(workspace=workspace, rules=page_rules)
    rows = []
    for rule in page_rules:
        users = list(rule.users.all())
        rows.append(
            RuleRow(
                rule,
                rule_object_label(rule, labels),
                users=[u for u in users if not u.is_service_account],
                service_accounts=[u for u in users if u.is_service_account],
                groups=list(rule.groups.all()),
            )
        )
    return page, rows


UNREACHABLE = object()  # safe_object_labels' mark: the kind's server did not answer


def safe_object_labels(*, workspace, rules) -> dict:
    """object_labels, or {} when the names cannot be had; a kind whose server did not answer is
    {(resource type, UNREACHABLE): True} (its rules then show their ids, not "not found")."""
    unreachable: set = set()
    try:
        labels = object_labels(workspace=workspace, rules=rules, unreachable=unreachable)
    except Exception:  # naming is a courtesy: it must not break the rules table
        return {}
    out = {(resource_type, str(pk)): name for (resource_type, pk), name in labels.items()}
    out.update({(resource_type, UNREACHABLE): True for resource_type in unreachable})
    return out


def rule_object_label(rule: AccessRule, labels: dict) -> str:
    """What the rule's object is called: "All projects", the object's name, or its id when the name
    is unknown (deleted: "not found"; or its server did not answer: "server not reachable")."""
    if rule.object_id is None or rule.object_id == "":
        return whole_type_label(rule.resource_type)
    name = labels.get((rule.resource_type, str(rule.object_id)))
    if name:
        return name
    if labels.get((rule.resource_type, UNREACHABLE)):
        return f"#{rule.object_id} (server not reachable)"
    return f"#{rule.object_id} (not found)"


def rule_title(rule: AccessRule, *, workspace) -> str:
    """How a confirmation names RULE: its object (by name) and its permission."""
    label = rule_object_label(rule, safe_object_labels(workspace=workspace, rules=[rule]))
    kind = type_label(rule.resource_type).lower()
    if rule.object_id is None or rule.object_id == "":
        return f"{label} ({rule.get_permission_display()})"
    singular = kind[:-1] if kind.endswith("s") else kind
    return f"{singular} “{label}” ({rule.get_permission_display()})"
