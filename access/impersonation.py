"""Impersonation: `auth.login` with `X-ClearML-Impersonate-As: <user id>` (clearml-agent --use-owner-token).

The agent pulls a task, then logs in again with its own token and the header naming the
task's owner; with the answer it loads the owner's vaults and runs the task as the owner.
The portal allows it only when the caller is a service account with "Allow impersonation"
or an administrator of the workspace, and only for a member of that same workspace. The new
token carries the owner's identity (and so their rights and vaults), never the caller's.

Tokens tell the agent what the caller is in `identity.service_account_type`: 0 for people,
1 for service accounts, 2 for service accounts that may impersonate (the agent accepts
`--use-owner-token` with >= 2 or an admin role).
"""

import uuid
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from workspaces.models import Membership

from .models import ServiceAccount

SERVICE_ACCOUNT_NONE = 0
SERVICE_ACCOUNT_PLAIN = 1
SERVICE_ACCOUNT_IMPERSONATING = 2


class ImpersonationDenied(PermissionDenied):
    """Refused impersonation; the message says why (the API answers 403 with it)."""


def service_account_type(user) -> int:
    """What goes into `identity.service_account_type` of USER's tokens (no query for people)."""
    if not getattr(user, "is_service_account", False):
        return SERVICE_ACCOUNT_NONE
    account = ServiceAccount.objects.filter(user=user).only("allow_impersonation").first()
    if account is not None and account.allow_impersonation:
        return SERVICE_ACCOUNT_IMPERSONATING
    return SERVICE_ACCOUNT_PLAIN


def parse_user_id(value: str) -> uuid.UUID | None:
    """A user id as the clients send it: 32 hex digits (ClearML's shape) or a dashed UUID."""
    value = (value or "").strip()
    if not value or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Impersonation:
    """Who the new token is for: the target's membership of the caller's workspace."""

    membership: Membership
    caller_id: uuid.UUID

    @property
    def user(self):
        return self.membership.user

    @property
    def workspace(self):
        return self.membership.workspace


def may_impersonate(*, caller, caller_membership: Membership) -> bool:
    """An administrator of the workspace, or a service account of it with "Allow impersonation"."""
    if caller_membership.is_admin:
        return True
    if not caller.is_service_account:
        return False
    return ServiceAccount.objects.filter(
        user=caller, workspace_id=caller_membership.workspace_id, allow_impersonation=True
    ).exists()


def impersonation_check(*, caller, workspace_id, target: str, tenant: str | None = None) -> Impersonation:
    """Whether CALLER (authenticated for WORKSPACE_ID) may get a token for the user TARGET names.

    Returns the target's membership, or raises ImpersonationDenied with a message for the client.
    TENANT (`X-ClearML-Tenant`), when sent, must name the same workspace: a token never
    crosses workspaces.
    """
    caller_membership = (
        Membership.objects.select_related("workspace").filter(user=caller, workspace_id=workspace_id).first()
    )
    if caller_membership is None:
        raise ImpersonationDenied("The calling identity is not a member of this workspace.")
    workspace = caller_membership.workspace
    if tenant and tenant.strip():
        tenant_id = parse_user_id(tenant)
        if tenant_id != workspace.id:
            raise ImpersonationDenied("Impersonation is only possible within the credentials' own workspace.")
    if not may_impersonate(caller=caller, caller_membership=caller_membership):
        if caller.is_service_account:
            raise ImpersonationDenied(
                f"Service account {caller.username} does not allow impersonation: an administrator can "
                "enable “Allow impersonation” in Settings → Users & Groups → Service Accounts."
            )
        raise ImpersonationDenied(
            "Only service accounts with “Allow impersonation” and workspace administrators can impersonate users."
        )
    target_id = parse_user_id(target)
    if target_id is None:
        raise ImpersonationDenied("X-ClearML-Impersonate-As must be a user id.")
    membership = (
        Membership.objects.select_related("user", "workspace")
        .filter(workspace=workspace, user_id=target_id, user__is_active=True)
        .first()
    )
    if membership is None:
        raise ImpersonationDenied(f"User {target_id.hex} is not a member of {workspace.name}.")
    return Impersonation(membership=membership, caller_id=caller.pk)
