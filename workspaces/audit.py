"""The audit log: every administrative change calls `audit_log` inside its transaction."""

from typing import Any

from django.db import models

from .models import AuditEvent, Workspace

# Keys whose values never enter the log, whatever the model (secrets, vault text).
REDACTED_KEYS = {"secret", "secret_key", "password", "content", "data", "private_key", "client_secret"}


def _clean(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {key: ("********" if key in REDACTED_KEYS else value) for key, value in values.items()}


def audit_log(
    *,
    actor,
    action: str,
    workspace: Workspace | None = None,
    target: models.Model | None = None,
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Record ACTION by ACTOR (a user, or None for the system) on TARGET.

    BEFORE/AFTER hold only the fields that changed; secret fields are redacted.
    """
    return AuditEvent.objects.create(
        workspace=workspace,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "email", None) or "system",
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=target_label or (str(target) if target is not None else ""),
        before=_clean(before),
        after=_clean(after),
        ip_address=ip_address,
    )


def changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (before, after) pair of the keys whose values differ."""
    keys = [key for key in new if old.get(key) != new.get(key)]
    return {key: old.get(key) for key in keys}, {key: new[key] for key in keys}
