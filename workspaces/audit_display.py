"""How an audit row reads: "who did what to which object, field: old -> new", on the page and in
the CSV export, instead of the raw before/after JSON.

Each service records BEFORE/AFTER as small dicts of the fields it changed (`workspaces.audit`).
Known actions get a sentence ("Renamed the workspace"), every field a label and its value a short
text; an action or field nobody named here still reads sensibly (its code, humanised).
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

from .models import AuditEvent

# What each action did, as a sentence without its object (the object is its own column).
ACTIONS: dict[str, str] = {
    "workspace.create": "Created the workspace",
    "workspace.rename": "Renamed the workspace",
    "workspace.member_limit": "Changed the member limit",
    "member.add": "Added a member",
    "member.role": "Changed a member's role",
    "member.remove": "Removed a member",
    "member.leave": "Left the workspace",
    "member.groups": "Changed a member's groups",
    "invitation.create": "Invited a user",
    "invitation.resend": "Resent an invitation",
    "invitation.accept": "Accepted an invitation",
    "invitation.revoke": "Revoked an invitation",
    "credential.create": "Created a credential",
    "credential.edit": "Relabelled a credential",
    "credential.revoke": "Revoked a credential",
    "impersonation.grant": "Impersonated a user",
    "group.create": "Created a user group",
    "group.update": "Changed a user group",
    "group.delete": "Deleted a user group",
    "service_account.create": "Created a service account",
    "service_account.update": "Changed a service account",
    "service_account.delete": "Deleted a service account",
    "access_rule.create": "Created an access rule",
    "access_rule.update": "Changed an access rule",
    "access_rule.delete": "Deleted an access rule",
    "vault.create": "Created a vault",
    "vault.update": "Changed a vault",
    "vault.enable": "Enabled a vault",
    "vault.disable": "Disabled a vault",
    "vault.delete": "Deleted a vault",
    "identity.create": "Added a sign-in connection",
    "identity.update": "Changed a sign-in connection",
    "identity.enable": "Enabled a sign-in connection",
    "identity.disable": "Disabled a sign-in connection",
    "identity.delete": "Deleted a sign-in connection",
    "identity.user_create": "Signed up through a connection",
    "identity.link": "Linked an account to a connection",
    "identity.sign_in": "Signed in through a connection",
    "upstream.link": "Linked the ClearML server",
    "upstream.unlink": "Unlinked the ClearML server",
    "upstream.user_map": "Mapped a member to a ClearML server user",
    "billing.checkout_start": "Started a checkout",
    "billing.invoices_email": "Emailed the invoices",
    "resources.provision": "Provisioned the resources",
    "resources.draft_save": "Saved the resource draft",
    "resources.draft_reset": "Reset the resource draft",
    "resources.enable": "Enabled resource management",
    "resources.disable": "Disabled resource management",
    "resources.import": "Imported a resource configuration",
    "resources.job_abort": "Aborted a job",
    "resources.policy_create": "Created a resource policy",
    "resources.policy_update": "Changed a resource policy",
    "resources.policy_delete": "Deleted a resource policy",
    "user.create": "Created a user",
    "user.rename": "Changed the username",
    "preferences.update": "Changed a preference",
    "preferences.hidden_args": "Changed the hidden container arguments",
    "cloud_access.create": "Added cloud storage access",
    "cloud_access.update": "Changed cloud storage access",
    "cloud_access.delete": "Deleted cloud storage access",
}

# Field labels that humanising the key would get wrong or leave vague.
FIELDS: dict[str, str] = {
    "max_members": "Member limit",
    "allow_impersonation": "Impersonation allowed",
    "credentials_revoked": "Credentials revoked",
    "user_id": "User id",
    "expires_at": "Expires",
    "admin": "Administrator",
    "personal": "Personal workspace",
    "company": "Company id",
    "ip_address": "IP address",
    "url": "URL",
}

EMPTY = "—"


@dataclass(frozen=True)
class Change:
    """One field of a row: LABEL, and OLD -> NEW (both shown), only NEW (set), or only OLD (what was)."""

    label: str
    old: str | None
    new: str | None

    @property
    def text(self) -> str:
        if self.old is not None and self.new is not None:
            return f"{self.label}: {self.old} → {self.new}"
        return f"{self.label}: {self.new if self.new is not None else self.old}"


def action_label(action: str) -> str:
    """ACTION as a sentence: the known one, else its code humanised ("Resources: policy update")."""
    if action in ACTIONS:
        return ACTIONS[action]
    area, _, verb = action.partition(".")
    if not verb:
        return area.replace("_", " ").capitalize() or "Unknown action"
    return f"{area.replace('_', ' ').capitalize()}: {verb.replace('_', ' ')}"


def field_label(key: str) -> str:
    return FIELDS.get(key) or str(key).replace("_", " ").capitalize()


def target_kind(target_type: str) -> str:
    """The kind of object ("Credential") from the stored model label; "" when unknown."""
    if not target_type:
        return ""
    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return target_type.rpartition(".")[2].replace("_", " ").capitalize()
    return str(model._meta.verbose_name).capitalize()


def value_text(key: str, value: Any) -> str:
    """A stored JSON value as a short text."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value_text(key, item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{field_label(k)}: {value_text(k, v)}" for k, v in value.items())
    if isinstance(value, str) and str(key).endswith("_at"):
        moment = parse_datetime(value)
        if isinstance(moment, dt.datetime):
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, dt.UTC)
            return date_format(timezone.localtime(moment), "Y-m-d H:i T")
    return str(value)


def event_changes(before: Any, after: Any) -> list[Change]:
    """The fields of BEFORE/AFTER, in their recorded order: old -> new where both sides name the
    field, else the one side's value (what was created, or what was deleted)."""
    before = before if isinstance(before, dict) else ({} if before is None else {"value": before})
    after = after if isinstance(after, dict) else ({} if after is None else {"value": after})
    keys = list(after) + [key for key in before if key not in after]
    rows = []
    for key in keys:
        old = value_text(key, before[key]) if key in before else None
        new = value_text(key, after[key]) if key in after else None
        rows.append(Change(field_label(key), old, new))
    return rows


@dataclass(frozen=True)
class EventRow:
    """An AuditEvent as the log shows it."""

    event: AuditEvent
    action_label: str
    target_kind: str
    changes: list[Change]

    @property
    def changes_text(self) -> str:
        return "; ".join(change.text for change in self.changes)


def event_row(event: AuditEvent) -> EventRow:
    return EventRow(
        event=event,
        action_label=action_label(event.action),
        target_kind=target_kind(event.target_type),
        changes=event_changes(event.before, event.after),
    )
