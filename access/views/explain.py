"""Explain access (the rules page's dialog): whose access, to which object, and the answer of
access.permissions.explain as the page shows it."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from accounts.models import User
from workspaces.selectors import membership_find

from .. import permissions, selectors
from ..kinds import ObjectRef
from ..picker import MAX_QUERY

SUBJECT_LIMIT = 50
LEVEL_TEXT = {
    permissions.READ: "Read Only",
    permissions.MODIFY: "Read & Modify",
    None: "No access",
}


@dataclass
class Explanation:
    """What the dialog shows: who, what, the effective level and the reasons (sentences)."""

    subject: str
    object: str
    level: str | None
    reasons: list[str] = field(default_factory=list)

    @property
    def level_text(self) -> str:
        return LEVEL_TEXT.get(self.level, str(self.level))


def subjects(request, selected: str = "") -> dict:
    """The users and service accounts to pick from: those matching `subject_q`, the chosen one kept."""
    query = request.GET.get("subject_q", "").strip()[:MAX_QUERY]
    users = selectors.member_search(workspace=request.workspace, query=query, limit=SUBJECT_LIMIT)
    selected = selected or request.GET.get("subject", "")
    if selected.startswith("u:") and all(f"u:{u.pk}" != selected for u in users):
        from ..forms_rules import targets_from

        user_ids, _ = targets_from([selected])
        users = selectors.workspace_users(workspace=request.workspace, user_ids=user_ids) + users
    return {
        "subjects": [(f"u:{u.pk}", _subject_label(u)) for u in users],
        "subject_selected": selected,
        "subject_q": query,
    }


def _subject_label(user) -> str:
    if user.is_service_account:
        return f"{user.username} (service account)"
    return f"{user.username} ({user.email})"


def explain(workspace, data: dict, object_label: str) -> Explanation:
    """Explain DATA's subject's access to DATA's object, called OBJECT_LABEL (access.permissions.explain).

    ValidationError when the subject is not a member of WORKSPACE."""
    user = User.objects.filter(pk=data["subject"]).first()
    membership = membership_find(workspace=workspace, user=user) if user else None
    if membership is None:
        raise ValidationError({"subject": "Not a member of this workspace."})
    ref = ObjectRef(data["resource_type"], data["object"])
    explain_access = getattr(permissions, "explain", None)
    if explain_access is None:  # until the permission module explains itself: the level alone
        level = permissions.level(membership, ref)
        return Explanation(subject=_subject_label(user), object=object_label, level=level)
    result = explain_access(membership, ref)
    return Explanation(
        subject=_subject_label(user),
        object=object_label,
        level=result.level,
        reasons=[str(reason) for reason in result.reasons],
    )
