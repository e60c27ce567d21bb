"""Who is in which group, and the Users & Groups tables. Every authorization check on groups goes through here."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower

from accounts.models import User
from workspaces.models import Credential, Invitation, Membership, Role
from workspaces.selectors import membership_find, seat_count

from . import kinds as object_kinds
from .models import AccessRule, BuiltinGroup, GroupMembership, ServiceAccount, UserGroup

GROUP_PREVIEW_SIZE = 5
BUILTIN_ORDER = {BuiltinGroup.USERS: 0, BuiltinGroup.ADMINS: 1, BuiltinGroup.QUEUE_ADMINS: 2}


def builtin_groups(*, workspace) -> dict[str, UserGroup]:
    """The workspace's three built-in groups by their BuiltinGroup value (created with the workspace)."""
    return {g.builtin: g for g in UserGroup.objects.for_workspace(workspace).exclude(builtin="")}


def user_group_ids(*, workspace, user, membership=None) -> set[int]:
    """Ids of every group of WORKSPACE that USER belongs to, the implicit `Users` group included.

    `Admins` membership follows the workspace role (Membership.role >= ADMIN), so that
    one source of truth decides who administers a workspace. MEMBERSHIP: USER's membership
    as the caller sees it (an impersonated API token's role is capped at member, so it is
    not in `Admins`); loaded when not given. One query with MEMBERSHIP given.
    """
    if membership is None:
        membership = membership_find(workspace=workspace, user=user)
    if membership is None:
        return set()
    implicit = [BuiltinGroup.USERS, BuiltinGroup.ADMINS] if membership.is_admin else [BuiltinGroup.USERS]
    stored = GroupMembership.objects.filter(group__workspace=workspace, user=user).exclude(
        group__builtin__in=[BuiltinGroup.USERS, BuiltinGroup.ADMINS]
    )
    return set(
        UserGroup.objects.for_workspace(workspace)
        .filter(Q(builtin__in=implicit) | Q(pk__in=stored.values("group_id")))
        .values_list("pk", flat=True)
    )


def _last_used_subquery(workspace, user_ref: str):
    """The latest use of any of the user's credentials in WORKSPACE (their API activity)."""

    return Subquery(
        Credential.objects.filter(workspace=workspace, user=OuterRef(user_ref), last_used_at__isnull=False)
        .order_by("-last_used_at")
        .values("last_used_at")[:1],
        output_field=DateTimeField(),
    )


# Columns of a USERS table row; members and pending invitations share them (a UNION).
ROW_COLUMNS = (
    "row_kind",
    "row_id",
    "row_user_id",
    "row_username",
    "row_email",
    "row_role",
    "row_added",
    "row_last_active",
    "row_sort",
)


def member_row_list(*, workspace, query: str = "") -> QuerySet:
    """The USERS table: people who are members (Active) and open invitations (Pending), as dicts.

    One SQL query per page (a UNION), so the table stays fast with 10,000 members.
    Service accounts have their own table.
    """

    members = Membership.objects.for_workspace(workspace).filter(user__is_service_account=False)
    invitations = Invitation.objects.for_workspace(workspace).pending()
    if query:
        members = members.filter(Q(user__username__icontains=query) | Q(user__email__icontains=query))
        invitations = invitations.filter(email__icontains=query)
    members = members.annotate(
        row_kind=Value("member", output_field=CharField()),
        row_id=F("pk"),
        row_user_id=F("user_id"),
        row_username=F("user__username"),
        row_email=F("user__email"),
        row_role=F("role"),
        row_added=F("joined_at"),
        row_last_active=Coalesce(F("last_active"), _last_used_subquery(workspace, "user_id")),
        row_sort=Lower("user__username"),
    ).values(*ROW_COLUMNS)
    invitations = invitations.annotate(
        row_kind=Value("invitation", output_field=CharField()),
        row_id=F("pk"),
        row_user_id=Value(None, output_field=UUIDField()),
        row_username=Value("", output_field=CharField()),
        row_email=F("email"),
        row_role=F("role"),
        row_added=F("created_at"),
        row_last_active=Value(None, output_field=DateTimeField()),
        row_sort=Lower("email"),
    ).values(*ROW_COLUMNS)
    # Pending invitations first (the page an admin lands on after inviting), then by name.
    # Each part unordered (SQLite allows no ORDER BY inside a UNION): the union is ordered.
    return (
        members.order_by().union(invitations.order_by(), all=True).order_by("row_kind", "row_sort", "row_id")
    )


def member_count(*, workspace) -> int:
    """What counts against Workspace.max_members, as the invitation service enforces it:
    memberships (service accounts included) and pending invitations."""

    return seat_count(workspace=workspace)


def group_names_by_user(*, workspace, user_ids) -> dict:
    """{user id: [names of the stored groups (not Users, not Admins) they belong to]} in one query."""
    names: dict = defaultdict(list)
    rows = (
        GroupMembership.objects.filter(group__workspace=workspace, user_id__in=list(user_ids))
        .exclude(group__builtin__in=[BuiltinGroup.USERS, BuiltinGroup.ADMINS])
        .order_by("group__name")
        .values_list("user_id", "group__name")
    )
    for user_id, name in rows:
        names[user_id].append(name)
    return names


def row_groups(*, role: int | None, names: list[str]) -> list[str]:
    """The groups shown in a table row: Admins (from the role) first, then the stored ones."""

    shown = ["Admins"] if role is not None and role >= Role.ADMIN else []
    return shown + list(names)


def service_account_list(*, workspace, query: str = "") -> QuerySet[ServiceAccount]:
    """The SERVICE ACCOUNTS table with credential counts, role and last activity, in one query."""

    active_credentials = (
        Credential.objects.filter(workspace=workspace, user=OuterRef("user_id"), revoked_at__isnull=True)
        .order_by()
        .values("user")
        .annotate(n=Count("pk"))
        .values("n")
    )
    membership = Membership.objects.for_workspace(workspace).filter(user=OuterRef("user_id"))
    accounts = ServiceAccount.objects.for_workspace(workspace).select_related("user")
    if query:
        accounts = accounts.filter(Q(name__icontains=query) | Q(user__id__icontains=query.replace("-", "")))
    return accounts.annotate(
        credential_count=Coalesce(Subquery(active_credentials, output_field=IntegerField()), 0),
        role=Subquery(membership.values("role")[:1]),
        last_active=Coalesce(
            Subquery(membership.values("last_active")[:1]), _last_used_subquery(workspace, "user_id")
        ),
    ).order_by(Lower("name"))


def service_account_credentials(*, account: ServiceAccount) -> QuerySet:

    return Credential.objects.for_workspace(account.workspace).active().filter(user=account.user)


@dataclass
class GroupRow:
    group: UserGroup
    member_count: int
    preview: list[str] = field(default_factory=list)

    @property
    def more(self) -> int:
        return max(self.member_count - len(self.preview), 0)


def group_list(*, workspace, query: str = "") -> list[GroupRow]:
    """The user group table: built-ins first, then by name; member counts and the first few names.

    A bounded number of queries whatever the number of groups or members.
    """

    preview = Prefetch(
        "memberships",
        queryset=GroupMembership.objects.select_related("user").order_by(Lower("user__username"))[
            :GROUP_PREVIEW_SIZE
        ],
        to_attr="preview_memberships",
    )
    groups = (
        UserGroup.objects.for_workspace(workspace)
        .annotate(n_members=Count("memberships"))
        .prefetch_related(preview)
        .order_by(
            Case(
                *[When(builtin=key, then=Value(order)) for key, order in BUILTIN_ORDER.items()],
                default=Value(9),
            ),
            Lower("name"),
        )
    )
    if query:
        groups = groups.filter(Q(name__icontains=query) | Q(description__icontains=query))
    members = Membership.objects.for_workspace(workspace)
    admins = members.admins()

    def names(qs) -> list[str]:
        return list(
            qs.order_by(Lower("user__username")).values_list("user__username", flat=True)[:GROUP_PREVIEW_SIZE]
        )

    rows = []
    for group in groups:
        if group.builtin == BuiltinGroup.USERS:
            rows.append(GroupRow(group, members.count(), names(members)))
        elif group.builtin == BuiltinGroup.ADMINS:
            rows.append(GroupRow(group, admins.count(), names(admins)))
        else:
            rows.append(
                GroupRow(group, group.n_members, [m.user.username for m in group.preview_memberships])
            )
    return rows


def group_members(*, group: UserGroup) -> list:
    """The members of GROUP as users (Admins: the administrators; Users: everyone)."""

    # One filter() call per relation: the role must be the one in this workspace.
    if group.builtin == BuiltinGroup.ADMINS:
        users = User.objects.filter(memberships__workspace=group.workspace, memberships__role__gte=Role.ADMIN)
    elif group.builtin == BuiltinGroup.USERS:
        users = User.objects.filter(memberships__workspace=group.workspace)
    else:
        users = User.objects.filter(memberships__workspace=group.workspace, group_memberships__group=group)
    return list(users.order_by(Lower("username")))


def member_search(*, workspace, query: str = "", exclude=(), limit: int = 20) -> list:
    """Users and service accounts of WORKSPACE whose username or email contains QUERY."""

    users = User.objects.filter(memberships__workspace=workspace).exclude(pk__in=list(exclude))
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(service_account__name__icontains=query)
        )
    return list(users.order_by("is_service_account", Lower("username"))[:limit])


def workspace_users(*, workspace, user_ids) -> list:
    """The members of WORKSPACE among USER_IDS (ids that are not members are dropped)."""

    return list(
        User.objects.filter(pk__in=list(user_ids), memberships__workspace=workspace).order_by(
            Lower("username")
        )
    )


# --- Access Rules -----------------------------------------------------------------------------------


@dataclass
class RuleRow:
    rule: AccessRule
    object_label: str
    users: list = field(default_factory=list)
    service_accounts: list = field(default_factory=list)
    groups: list = field(default_factory=list)


def resource_objects(*, workspace, resource_type: str, query: str = "", limit: int = 50, pk=None) -> list:
    """The objects of RESOURCE_TYPE in WORKSPACE whose name contains QUERY (or the one PK): [(id, label)],
    as the kind's owner registered them with access.permissions."""
    kind = object_kinds.kind_for(workspace, resource_type)
    if kind is None or kind.search is None:
        return []
    return kind.search(workspace=workspace, query=query, pk=pk, limit=limit)


def object_labels(*, workspace, rules, unreachable: set | None = None) -> dict:
    """{(resource type, id): name} for the objects the RULES name, one query per kind named.

    The resource types whose objects' owner did not answer (kinds.ObjectsUnavailable) are added
    to UNREACHABLE (their rules then have no name here, and are not deleted objects)."""
    wanted: dict = defaultdict(set)
    for rule in rules:
        if rule.object_id is not None:
            wanted[rule.resource_type].add(rule.object_id)
    labels = {}
    for resource_type, ids in wanted.items():
        kind = object_kinds.kind_for(workspace, resource_type)
        if kind is None or kind.names is None:
            continue
        try:
            found = kind.names(workspace=workspace, ids=ids)
        except object_kinds.ObjectsUnavailable:  # the table still shows the rules, by id
            found = {}
            if unreachable is not None:
                unreachable.add(resource_type)
        except Exception:  # naming is a courtesy: the table still shows the rules, by id
            found = {}
        for pk, name in found.items():
            labels[(resource_type, str(pk))] = name
    return labels


def rule_list(*, workspace, resource_type: str = "", target: str = "") -> list[RuleRow]:
    """The Access Rules table, filtered by resource type and by target name; bounded queries."""
    rules = AccessRule.objects.for_workspace(workspace).prefetch_related(
        Prefetch(
            "users", queryset=User.objects.select_related("service_account").order_by(Lower("username"))
        ),
        Prefetch("groups", queryset=UserGroup.objects.order_by(Lower("name"))),
    )
    if resource_type in AccessRule.ResourceType.values:
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
    users = member_search(workspace=workspace, query=query, exclude=exclude_users, limit=limit)
    groups = UserGroup.objects.for_workspace(workspace).exclude(pk__in=list(exclude_groups))
    if query:
        groups = groups.filter(name__icontains=query)
    return users, list(groups.order_by(Lower("name"))[:limit])
