"""Explain access (the rules page's dialog): whose access, to which object, and the answer of
access.permissions.explain in sentences about that member (the rules, the groups, the ancestors)."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from accounts.models import User
from workspaces.selectors import membership_find

from .. import permissions, selectors
from ..forms_rules import targets_from
from ..kinds import ObjectRef, ObjectsUnavailable, kind_for
from ..picker import MAX_QUERY
from ..selectors_rules import type_label

SUBJECT_LIMIT = 50


@dataclass
class Reason:
    text: str
    rule_id: int | None = None
    grants: bool = False


@dataclass
class Explanation:
    """What the dialog shows: who, what, the effective level and the reasons."""

    subject: str
    object: str
    level: str | None
    level_text: str
    reasons: list[Reason] = field(default_factory=list)


def subjects(request, selected: str = "") -> dict:
    """The users and service accounts to pick from: those matching `subject_q`, the chosen one kept."""
    query = request.GET.get("subject_q", "").strip()[:MAX_QUERY]
    users = selectors.member_search(workspace=request.workspace, query=query, limit=SUBJECT_LIMIT)
    selected = selected or request.GET.get("subject", "")
    if selected.startswith("u:") and all(f"u:{u.pk}" != selected for u in users):
        user_ids, _ = targets_from([selected])
        users = selectors.workspace_users(workspace=request.workspace, user_ids=user_ids) + users
    return {
        "subjects": [(f"u:{u.pk}", subject_label(u)) for u in users],
        "subject_selected": selected,
        "subject_q": query,
    }


def subject_label(user) -> str:
    if user.is_service_account:
        return f"{user.username} (service account)"
    return f"{user.username} ({user.email})"


def _labels(workspace, chain: list[ObjectRef]) -> dict:
    """{ref: name} for the objects of CHAIN, one `names` call per kind (empty when a server is down)."""
    by_kind: dict[str, list] = {}
    for ref in chain:
        if ref.id is not None:
            by_kind.setdefault(ref.kind, []).append(ref.id)
    labels = {}
    for kind_name, ids in by_kind.items():
        kind = kind_for(workspace, kind_name)
        if kind is None or kind.names is None:
            continue
        try:
            names = kind.names(workspace=workspace, ids=ids)
        except ObjectsUnavailable:  # the reasons name objects by id
            names = {}
        for pk, name in names.items():
            labels[ObjectRef(kind_name, str(pk))] = name
    return labels


def _named(ref: ObjectRef | None, labels: dict) -> str:
    if ref is None:
        return ""
    singular = type_label(ref.kind).lower().rstrip("s")
    name = labels.get(ObjectRef(ref.kind, str(ref.id)))
    return f"{singular} “{name}”" if name else f"{singular} {ref.id}"


def _sentence(reason, who: str, labels: dict) -> Reason:
    """REASON (access.permissions.Reason) as a sentence about WHO."""
    if reason.kind != "rule" or reason.rule is None:
        return Reason(reason.text)
    rule = reason.rule
    if rule.object_id is None:
        on = f"all {type_label(rule.resource_type).lower()}"
    else:
        on = _named(reason.through, labels)
    if reason.inherited:
        on += " (inherited: it contains the object)"
    permission = rule.get_permission_display()
    if not reason.grants:
        text = f"The rule on {on} ({permission}) covers it, and {who} is not among its targets."
        return Reason(text, rule.pk, False)
    ways = (["directly"] if reason.via_user else []) + [f"through the group {g}" for g in reason.via_groups]
    return Reason(f"The rule on {on} grants {permission} to {who} {' and '.join(ways)}.", rule.pk, True)


def explain(workspace, data: dict, object_label: str) -> Explanation:
    """Explain DATA's subject's access to DATA's object, called OBJECT_LABEL (access.permissions.explain).

    ValidationError when the subject is not a member of WORKSPACE, or the object cannot be looked up."""
    user = User.objects.filter(pk=data["subject"]).first()
    membership = membership_find(workspace=workspace, user=user) if user else None
    if membership is None:
        raise ValidationError({"subject": "Not a member of this workspace."})
    ref = ObjectRef(data["resource_type"], data["object"])
    try:
        chain = permissions.lineage(workspace, ref)
    except LookupError as exc:
        raise ValidationError({"resource_type": "This workspace has no such objects."}) from exc
    except ObjectsUnavailable as exc:  # the object's ancestors live on the ClearML server
        raise ValidationError("The ClearML server did not answer; try again shortly.") from exc
    labels = _labels(workspace, chain)
    result = permissions.explain(membership, ref, chain=chain, labels=labels)
    who = user.username
    return Explanation(
        subject=subject_label(user),
        object=object_label,
        level=result.level,
        level_text=result.level_label,
        reasons=[_sentence(reason, who, labels) for reason in result.reasons],
    )
