"""The one Access Rules check: `can` for one object, `restrict` for a queryset, both from one rule index.

Semantics (the seed's Access Rules):
- without a rule covering an object, every member may read and modify it;
- once rules cover it, only their targets (users, service accounts, members of a target group)
  reach it, at the highest level the covering rules grant them (several rules combine);
- administrators of the workspace reach everything (an impersonated token's membership is
  capped at member, so it is bound by the rules like the member it acts as);
- a rule covers its object and everything below it: a rule on a queue covers the tasks in it;
  a rule on one task covers that task only. A rule without an object covers every object of
  its kind (and, through them, what is below them).

Objects are named by kind and id (`ObjectRef`). Each kind is registered once (`kind_register`,
from the owning app's AppConfig.ready()) with its parent kind:
- portal-stored kinds (the resources app's `queue` and `task`) give their MODEL and the
  PARENT_FIELD pointing at the parent's row, so `restrict` filters them in SQL;
- kinds the portal does not store (ClearML's projects, tasks, models, datasets, dataviews and
  queues behind the gateway) give an ANCESTORS resolver instead: `can` asks it for an object's
  ancestors, and `rule_index` gives the gateway what it needs to rewrite a listing's filters.
Adding a kind is one more `ObjectKind(...)` entry; the check itself does not change.

Services that write call `require` (or `can`); querysets that read call `restrict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Exists, OuterRef, Q

from .kinds import ObjectKind, ObjectRef, kind_for, kind_get, kind_list, kind_of_model, kind_register
from .models import AccessRule, BuiltinGroup, UserGroup
from .selectors import user_group_ids

__all__ = [
    "MODIFY",
    "READ",
    "Explanation",
    "ObjectKind",
    "ObjectRef",
    "Reason",
    "RestrictQuerySet",
    "RuleIndex",
    "can",
    "explain",
    "kind_get",
    "kind_list",
    "kind_register",
    "level",
    "lineage",
    "require",
    "restrict",
    "rule_index",
]

READ = AccessRule.Permission.READ.value
MODIFY = AccessRule.Permission.READ_MODIFY.value
RANK = {READ: 1, MODIFY: 2}
_LEVEL_OF_RANK = {rank: level for level, rank in RANK.items()}


def ref_of(obj) -> ObjectRef:
    """OBJ as an ObjectRef: an ObjectRef as is, or a row of a registered portal-stored kind."""
    if isinstance(obj, ObjectRef):
        return obj
    return ObjectRef(kind_of_model(type(obj)).name, obj.pk)


def lineage(workspace, obj) -> list[ObjectRef]:
    """OBJ and its ancestors, nearest first: the objects whose rules cover OBJ."""
    ref = ref_of(obj)
    chain = [ref]
    if ref.id is None:
        return chain
    kind = kind_for(workspace, ref.kind) if isinstance(obj, ObjectRef) else None
    kind = kind or kind_get(ref.kind)
    if kind is None:
        raise LookupError(f"unknown object kind {ref.kind!r}")
    if kind.ancestors is not None:
        return chain + list(kind.ancestors(workspace, ref))
    # Portal-stored: follow the parent fields, from the row in hand when there is one.
    row = None if isinstance(obj, ObjectRef) else obj
    while kind is not None and kind.parent_field and kind.parent:
        attname = f"{kind.parent_field}_id"
        if row is not None:
            parent_id = getattr(row, attname)
        else:
            parent_id = kind.model.objects.filter(pk=ref.id).values_list(attname, flat=True).first()
        if parent_id is None:
            break
        ref, kind, row = ObjectRef(kind.parent, parent_id), kind_get(kind.parent), None
        chain.append(ref)
    return chain


# --- The rule index ---------------------------------------------------------------------------------


@dataclass
class KindRules:
    """The rules of one kind as they bear on one member: which objects they cover, what they grant.

    Ranks: 0 covered but nothing granted to the member, 1 read, 2 read & modify.
    """

    whole_kind_covered: bool = False  # a rule without an object exists for this kind
    whole_kind_rank: int = 0  # the best such rule grants the member
    ranks_by_id: dict[str, int] = field(default_factory=dict)  # covered ids (as text) -> best rank granted

    def ids_granted(self, need: int) -> list:
        return [pk for pk, rank in self.ranks_by_id.items() if rank >= need]


@dataclass
class RuleIndex:
    """What the rules of some kinds mean for one member of one workspace.

    `unrestricted` (an administrator) overrides everything. Built in one query when no rule
    applies, three otherwise, whatever the number of rules; `level_of` then decides any object from its lineage, and
    `restrict` compiles the same decision into a queryset filter (so both agree by construction).
    """

    unrestricted: bool
    kinds: dict[str, KindRules] = field(default_factory=dict)

    def rank_of(self, chain: Iterable[ObjectRef]) -> int:
        if self.unrestricted:
            return RANK[MODIFY]
        covered, best = False, 0
        for ref in chain:
            rules = self.kinds.get(ref.kind)
            if rules is None:
                continue
            if rules.whole_kind_covered:
                covered, best = True, max(best, rules.whole_kind_rank)
            key = None if ref.id is None else str(ref.id)
            if key is not None and key in rules.ranks_by_id:
                covered, best = True, max(best, rules.ranks_by_id[key])
        return best if covered else RANK[MODIFY]

    def level_of(self, chain: Iterable[ObjectRef]) -> str | None:
        return _LEVEL_OF_RANK.get(self.rank_of(chain))


def rule_index(membership, kinds: Iterable[str], *, ids: dict[str, Iterable] | None = None) -> RuleIndex:
    """The rules on KINDS of MEMBERSHIP's workspace, as they bear on MEMBERSHIP.

    IDS (kind -> ids) narrows the rules on single objects to those ids (rules on a whole kind
    always count): `can` passes an object's lineage; a listing passes nothing.
    """
    if membership.is_admin:
        return RuleIndex(unrestricted=True)
    kinds = list(dict.fromkeys(kinds))
    workspace_id, user_id = membership.workspace_id, membership.user_id
    wanted = Q()
    for kind in kinds:
        if ids is not None and kind in ids:
            wanted |= Q(resource_type=kind, object_id__isnull=True)
            wanted |= Q(resource_type=kind, object_id__in=[str(pk) for pk in ids[kind] if pk is not None])
        else:
            wanted |= Q(resource_type=kind)
    index = RuleIndex(unrestricted=False, kinds={kind: KindRules() for kind in kinds})
    if not kinds:
        return index
    targets_user = Exists(
        AccessRule.users.through.objects.filter(accessrule_id=OuterRef("pk"), user_id=user_id)
    )
    rows = list(
        AccessRule.objects.filter(workspace_id=workspace_id)
        .filter(wanted)
        .annotate(targets_user=targets_user)
        .values_list("pk", "resource_type", "object_id", "permission", "targets_user")
    )
    if not rows:  # the common case: no rule, one query
        return index
    groups = user_group_ids(workspace=workspace_id, user=user_id, membership=membership)
    # The rules that name one of the member's groups: looked up by the (few) groups, not by the
    # (possibly thousands of) rule ids.
    through_group = set(
        AccessRule.groups.through.objects.filter(
            usergroup_id__in=groups,
            accessrule__workspace_id=workspace_id,
            accessrule__resource_type__in=kinds,
        ).values_list("accessrule_id", flat=True)
    )
    for pk, kind, object_id, permission, targets_user in rows:
        rules = index.kinds[kind]
        rank = RANK[permission] if targets_user or pk in through_group else 0
        if object_id is None:
            rules.whole_kind_covered = True
            rules.whole_kind_rank = max(rules.whole_kind_rank, rank)
        else:
            rules.ranks_by_id[object_id] = max(rules.ranks_by_id.get(object_id, 0), rank)
    return index


# --- One object -------------------------------------------------------------------------------------


def level(membership, obj) -> str | None:
    """MEMBERSHIP's level on OBJ (an ObjectRef or a row of a portal-stored kind): READ, MODIFY,
    or None (no access). MEMBERSHIP as the caller sees it (the API's `call.membership` is capped
    at member under impersonation); None (not a member) has no access."""
    if membership is None:
        return None
    if membership.is_admin:
        return MODIFY
    chain = lineage(membership.workspace, obj)
    ids: dict[str, list] = {}
    for ref in chain:
        ids.setdefault(ref.kind, []).append(ref.id)
    return rule_index(membership, ids, ids=ids).level_of(chain)


def can(membership, obj, action: str) -> bool:
    """May MEMBERSHIP do ACTION (READ or MODIFY) on OBJ?"""
    granted = level(membership, obj)
    return granted is not None and RANK[granted] >= RANK[action]


def require(membership, obj, action: str, message: str) -> None:
    """PermissionDenied(MESSAGE) unless MEMBERSHIP may do ACTION on OBJ."""
    if not can(membership, obj, action):
        raise PermissionDenied(message)


# --- Querysets --------------------------------------------------------------------------------------


def _lookups(kind: ObjectKind) -> list[tuple[str, str]]:
    """[(kind name, ORM lookup of that kind's id from a row of KIND)], KIND itself first."""
    pairs, path = [(kind.name, "pk")], ""
    while kind.parent and kind.parent_field:
        path = f"{path}__{kind.parent_field}" if path else kind.parent_field
        pairs.append((kind.parent, f"{path}_id"))
        kind = kind_get(kind.parent)
        if kind is None:
            break
    return pairs


def restrict(queryset: models.QuerySet, membership, action: str) -> models.QuerySet:
    """The rows of QUERYSET (a portal-stored kind) in MEMBERSHIP's workspace that MEMBERSHIP may
    do ACTION on: the same decision as `can`, as one filter (at most three queries to build it)."""
    if membership is None:
        return queryset.none()
    queryset = queryset.filter(workspace_id=membership.workspace_id)
    if membership.is_admin:
        return queryset
    kind = kind_of_model(queryset.model)
    pairs = _lookups(kind)
    index = rule_index(membership, [name for name, _ in pairs])
    need = RANK[action]
    covered, granted = Q(), Q()
    for name, lookup in pairs:
        rules = index.kinds[name]
        present = Q(**{f"{lookup}__isnull": False})
        if rules.whole_kind_covered:
            covered |= present
            if rules.whole_kind_rank >= need:
                granted |= present
        if rules.ranks_by_id:
            # Portal rows have integer keys: an upstream id (text) names none of them.
            covered |= Q(**{f"{lookup}__in": [pk for pk in rules.ranks_by_id if pk.isdigit()]})
            mine = [pk for pk in rules.ids_granted(need) if pk.isdigit()]
            if mine:
                granted |= Q(**{f"{lookup}__in": mine})
    if not covered:
        return queryset
    # Visible: not covered by any rule, or granted by one. Django keeps NULL parents (a job
    # outside any queue) on the "not covered" side of the negation.
    return queryset.filter(~covered | granted) if granted else queryset.exclude(covered)


class RestrictQuerySet(models.QuerySet):
    """Mixin of the querysets of portal-stored kinds: `Model.objects.restrict(membership, READ)`."""

    def restrict(self, membership, action: str):
        return restrict(self, membership, action)


# --- Explain access ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One thing that decides (or would decide) a member's level on an object.

    KIND: "admin" (Admins reach everything, at READ & MODIFY; except creating, deleting and
    renaming queues), "queue_admin" (in `Queue admins`: may create, delete and rename queues),
    "default" (no rule covers the object or its ancestors: every member reads and modifies),
    "rule" (RULE covers the object: THROUGH is the object the rule names, the object itself or
    an ancestor, None for a rule on the whole kind; INHERITED when THROUGH is an ancestor; it
    grants PERMISSION through VIA_USER (named as a target) and/or VIA_GROUPS (names of the
    member's groups it targets), or nothing (GRANTS False: covered, not a target)).
    TEXT: one sentence for people.
    """

    kind: str
    text: str
    rule: AccessRule | None = None
    permission: str | None = None
    grants: bool = False
    via_user: bool = False
    via_groups: tuple[str, ...] = ()
    through: ObjectRef | None = None
    inherited: bool = False


@dataclass
class Explanation:
    """`explain`'s answer: LEVEL (READ, MODIFY or None: no access), the REASONS (rules that grant
    first, best level first; then rules that cover without granting), the CHAIN looked at (the
    object, then its ancestors nearest first), and QUEUE_ADMIN (member of `Queue admins`)."""

    object: ObjectRef
    level: str | None
    reasons: list[Reason] = field(default_factory=list)
    chain: list[ObjectRef] = field(default_factory=list)
    is_admin: bool = False
    queue_admin: bool = False
    covered: bool = False

    @property
    def level_label(self) -> str:
        return dict(AccessRule.Permission.choices).get(self.level, "No access") if self.level else "No access"


def explain(
    membership, obj, *, chain: list[ObjectRef] | None = None, labels: dict | None = None
) -> Explanation:
    """Why MEMBERSHIP (a user's or service account's membership; None: not a member) has the level
    it has on OBJ (an ObjectRef, or a row of a portal-stored kind).

    CHAIN: OBJ and its ancestors, nearest first, when the caller knows them (the gateway does);
    else `lineage` asks the kind. LABELS {ObjectRef: name} names objects in the reasons' text.
    The level is the one `level`/`can` decide (same index); the reasons say which rules, through
    which group, inherited from which ancestor. Bounded queries whatever the number of rules.
    """
    ref = ref_of(obj)
    labels = labels or {}

    def name_of(item: ObjectRef) -> str:
        kind = kind_get(item.kind)
        what = (kind.label.rstrip("s").lower() if kind else item.kind) if item.id is not None else ""
        return labels.get(item) or f"{what} {item.id}".strip()

    if membership is None:
        return Explanation(ref, None, [Reason("default", "Not a member of this workspace: no access.")])
    if chain is None:
        chain = lineage(membership.workspace, obj)
    groups = user_group_ids(workspace=membership.workspace_id, user=membership.user_id, membership=membership)
    group_rows = dict(UserGroup.objects.filter(pk__in=groups).values_list("pk", "builtin"))
    queue_admin = BuiltinGroup.QUEUE_ADMINS.value in group_rows.values()
    result = Explanation(ref, None, chain=list(chain), is_admin=membership.is_admin, queue_admin=queue_admin)
    if membership.is_admin:
        result.level = MODIFY
        result.reasons.append(
            Reason(
                "admin",
                "Administrator (Admins): reads and modifies everything except creating, deleting "
                "and renaming queues.",
            )
        )
    if queue_admin:
        result.reasons.append(Reason("queue_admin", "In Queue admins: may create, delete and rename queues."))
    wanted = Q()
    for item in chain:
        wanted |= Q(resource_type=item.kind, object_id__isnull=True)
        if item.id is not None:
            wanted |= Q(resource_type=item.kind, object_id=str(item.id))
    rules = list(
        AccessRule.objects.filter(workspace_id=membership.workspace_id)
        .filter(wanted)
        .prefetch_related("groups")
        .annotate(
            targets_user=Exists(
                AccessRule.users.through.objects.filter(
                    accessrule_id=OuterRef("pk"), user_id=membership.user_id
                )
            )
        )
    )
    position = {}
    for index, item in enumerate(chain):
        position.setdefault((item.kind, None if item.id is None else str(item.id)), index)
    granting, covering, best = [], [], 0
    for rule in rules:
        key = (rule.resource_type, rule.object_id)
        where = position.get(key)
        if where is None and rule.object_id is None:
            where = min(i for (k, _), i in position.items() if k == rule.resource_type)
        through = chain[where] if rule.object_id is not None else None
        inherited = where > 0
        via_groups = tuple(sorted(g.name for g in rule.groups.all() if g.pk in groups))
        grants = bool(rule.targets_user or via_groups)
        perm_label = rule.get_permission_display()
        if rule.object_id is None:
            named = f"every {rule.resource_type}" + (f" (so {name_of(chain[where])})" if inherited else "")
        else:
            named = name_of(through) + (" (inherited)" if inherited else "")
        if grants:
            who = ", ".join(
                (["you are a target"] if rule.targets_user else [])
                + [f"through group {g}" for g in via_groups]
            )
            text = f"Rule #{rule.pk} on {named} grants {perm_label}: {who}."
            best = max(best, RANK[rule.permission])
        else:
            text = f"Rule #{rule.pk} on {named} ({perm_label}) covers it, and you are not among its targets."
        reason = Reason(
            "rule",
            text,
            rule=rule,
            permission=rule.permission,
            grants=grants,
            via_user=bool(rule.targets_user),
            via_groups=via_groups,
            through=through,
            inherited=inherited,
        )
        (granting if grants else covering).append(reason)
    granting.sort(key=lambda r: -RANK[r.permission])
    result.covered = bool(rules)
    if not membership.is_admin:
        if not rules:
            result.level = MODIFY
            result.reasons.append(
                Reason("default", "No rule covers it or its ancestors: every member reads and modifies it.")
            )
        else:
            result.level = _LEVEL_OF_RANK.get(best)
    result.reasons.extend(granting + covering)
    return result
