"""The Resource Configuration editor: a working copy of the draft, saved or reset; no effect until
provisioned (resources.services.provisioning). The draft document and its edits: resources.draft."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from workspaces.audit import audit_log
from workspaces.models import Workspace

from .. import draft as drafts
from ..models import ResourceSettings
from ..selectors import editor_state_get, policy_names_by_profile
from .scheduling import settings_get

Draft = drafts.Draft


@transaction.atomic
def editor_edit(*, workspace: Workspace, actor, edit: Callable[[Draft], Draft]) -> Draft:
    """Apply EDIT (a function of resources.draft) to the editor's working copy; not saved, no effect."""
    settings = settings_get(workspace=workspace, lock=True)
    state = editor_state_get(workspace=workspace, settings=settings)
    new = edit(state.draft)
    settings.working_draft = new
    settings.save(update_fields=["working_draft"])
    return new


def profile_delete_edit(*, workspace: Workspace, key: str) -> Callable[[Draft], Draft]:
    """The edit deleting the profile KEY, refused while policies use it."""
    users = policy_names_by_profile(workspace=workspace)
    return lambda d: drafts.profile_delete(d, key, used_by=users.get(key))


@transaction.atomic
def draft_save(*, workspace: Workspace, actor) -> ResourceSettings:
    """Save: store the editor's working copy as the draft. It has no effect until provisioned."""
    settings = settings_get(workspace=workspace, lock=True)
    if settings.working_draft is not None:
        settings.saved_draft = settings.working_draft
        settings.working_draft = None
        settings.saved_at = timezone.now()
        settings.saved_by = actor if getattr(actor, "pk", None) else None
        settings.save(update_fields=["saved_draft", "working_draft", "saved_at", "saved_by"])
        audit_log(
            actor=actor,
            action="resources.draft_save",
            workspace=workspace,
            target=settings,
            target_label="Resource configuration draft",
        )
    return settings


@transaction.atomic
def draft_reset(*, workspace: Workspace, actor) -> ResourceSettings:
    """Reset Configuration: drop every unprovisioned change, saved or not."""
    settings = settings_get(workspace=workspace, lock=True)
    had = settings.saved_draft is not None or settings.working_draft is not None
    settings.saved_draft = None
    settings.working_draft = None
    settings.save(update_fields=["saved_draft", "working_draft"])
    if had:
        audit_log(
            actor=actor,
            action="resources.draft_reset",
            workspace=workspace,
            target=settings,
            target_label="Resource configuration draft",
        )
    return settings


@transaction.atomic
def editor_exit(*, workspace: Workspace, actor) -> ResourceSettings:
    """Exit the editor: unsaved changes are dropped; the saved draft waits in the editor."""
    settings = settings_get(workspace=workspace, lock=True)
    if settings.working_draft is not None:
        settings.working_draft = None
        settings.save(update_fields=["working_draft"])
    return settings
