"""The audit log: every administrative change calls `audit_log` inside its transaction.

Under an impersonated API token (`acting_on_behalf`, set by the API dispatcher) a row whose
actor is the impersonated user records the real actor, the service account (or administrator)
that impersonated, with the user as "on behalf of".
"""

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import models

from .models import AuditEvent, Workspace

# Keys whose values never enter the log, whatever the model (secrets, vault text).
REDACTED_KEYS = {"secret", "secret_key", "password", "content", "data", "private_key", "client_secret"}


def _clean(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {key: ("********" if key in REDACTED_KEYS else value) for key, value in values.items()}


# (caller id, owner id) while an impersonated API call runs.
_on_behalf: contextvars.ContextVar[tuple[uuid.UUID, uuid.UUID] | None] = contextvars.ContextVar(
    "audit_on_behalf", default=None
)


@contextmanager
def acting_on_behalf(*, caller_id, owner_id) -> Iterator[None]:
    """Inside the block, rows whose actor is OWNER_ID are recorded as CALLER_ID's, on behalf of OWNER_ID."""
    reset = _on_behalf.set((uuid.UUID(str(caller_id)), uuid.UUID(str(owner_id))))
    try:
        yield
    finally:
        _on_behalf.reset(reset)


def _real_actor(actor, on_behalf_of):
    """(actor, on_behalf_of) as they must be recorded."""
    acting = _on_behalf.get()
    if on_behalf_of is not None or acting is None or getattr(actor, "pk", None) != acting[1]:
        return actor, on_behalf_of
    from django.contrib.auth import get_user_model

    caller = get_user_model().objects.filter(pk=acting[0]).first()
    return caller, actor


def actor_label(user) -> str:
    """How USER reads in the log: the email of a person, the name of a service account
    (whose email is a generated placeholder)."""
    if user is None or not getattr(user, "pk", None):
        return ""
    if getattr(user, "is_service_account", False):
        return f"{user.username} (service account)"
    return getattr(user, "email", "") or str(user.pk)


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
    on_behalf_of=None,
) -> AuditEvent:
    """Record ACTION by ACTOR (a user, or None for the system) on TARGET.

    BEFORE/AFTER hold only the fields that changed; secret fields are redacted.
    ON_BEHALF_OF: the user ACTOR impersonated (see the module docstring).
    """
    actor, on_behalf_of = _real_actor(actor, on_behalf_of)
    return AuditEvent.objects.create(
        workspace=workspace,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label(actor) or "system",
        on_behalf_of=on_behalf_of if getattr(on_behalf_of, "pk", None) else None,
        on_behalf_of_label=actor_label(on_behalf_of),
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
