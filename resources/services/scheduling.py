"""The Resource Configuration switch, and asking the scheduler for a pass.

Every change the scheduler must see in full (provisioning, enabling, policy edits) takes the
workspace's scheduler lock (resources.scheduler.lock_workspace), so no pass overlaps it. Every
change that may let more jobs run asks for a pass once it is committed (`schedule_soon`).
"""

from __future__ import annotations

from django.db import connection, transaction

from workspaces.audit import audit_log
from workspaces.models import Workspace

from ..models import ResourceSettings
from ..scheduler import lock_workspace
from . import background


def settings_get(*, workspace: Workspace, lock: bool = False) -> ResourceSettings:
    """WORKSPACE's ResourceSettings row (created on first use); LOCK: select it for update."""
    settings, _ = ResourceSettings.objects.get_or_create(workspace=workspace)
    if lock:
        settings = ResourceSettings.objects.select_for_update().get(pk=settings.pk)
    return settings


@transaction.atomic
def resource_management_set(*, workspace: Workspace, actor, enabled: bool) -> ResourceSettings:
    """Turn scheduling on or off. Off: nothing is admitted; pending and running jobs are left alone."""
    lock_workspace(workspace)
    settings = settings_get(workspace=workspace, lock=True)
    if settings.enabled != enabled:
        settings.enabled = enabled
        settings.save(update_fields=["enabled"])
        audit_log(
            actor=actor,
            action="resources.enable" if enabled else "resources.disable",
            workspace=workspace,
            target=settings,
            target_label="Resource management",
            before={"enabled": not enabled},
            after={"enabled": enabled},
        )
        if enabled:
            schedule_soon(workspace)
    return settings


def schedule_soon(workspace: Workspace) -> None:
    """Ask for a scheduling pass of WORKSPACE once the current transaction commits."""
    workspace_id = str(workspace.pk)
    # One request per workspace per commit, however many changes the transaction held: the
    # callbacks of one commit share a batch, and the first to run for a workspace does it.
    batch = getattr(connection, "resources_schedule_batch", None)
    if batch is None or batch["started"]:
        batch = {"started": False, "sent": set()}
        connection.resources_schedule_batch = batch

    def send() -> None:
        batch["started"] = True
        if workspace_id in batch["sent"]:
            return
        batch["sent"].add(workspace_id)
        background.request_schedule(workspace_id)

    transaction.on_commit(send)
