"""Impersonation: `auth.login` with `X-ClearML-Impersonate-As: <user id>` (clearml-agent --use-owner-token).

The agent pulls a task, then logs in again with its own token and the header naming the
task's owner; with the answer it loads the owner's vaults and runs the task as the owner.
The portal allows it only when the caller is a service account with "Allow impersonation"
or an administrator of the workspace, and only for a member of that same workspace.

What an impersonated token may do (never more than the owner, never more than a member):
- it carries the owner's identity, vaults and access to resources, with the role capped at
  member (`role: user` in the token; `ApiCall.membership` is capped the same way);
- it never creates, lists, edits or revokes credentials and never reaches an endpoint
  registered with `impersonated=False`; it cannot impersonate again;
- it names an `ImpersonationGrant` (`grant_id`): revoking the caller's credential, switching
  "Allow impersonation" off, deleting the service account, the owner leaving or being
  removed, or the caller losing the right revokes the grant, and its tokens stop at once
  (workspaces.revocation); deactivating the caller or the owner stops them at once too;
- a Bearer `auth.login` refresh re-checks all of this in the database (`grant_recheck`);
- audit rows written with it name the caller as actor and the owner as "on behalf of".

Tokens tell the agent what the caller is in `identity.service_account_type`: 0 for people,
1 for service accounts, 2 for service accounts that may impersonate (the agent accepts
`--use-owner-token` with >= 2 or an admin role).
"""

import uuid
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from workspaces import revocation
from workspaces.audit import audit_log
from workspaces.models import Credential, Membership, Role

from .models import ImpersonationGrant, ServiceAccount

SERVICE_ACCOUNT_NONE = 0
SERVICE_ACCOUNT_PLAIN = 1
SERVICE_ACCOUNT_IMPERSONATING = 2


class ImpersonationDenied(PermissionDenied):
    """Refused impersonation; the message says why (the API answers 403 with it)."""


class GrantRevoked(ImpersonationDenied):
    """The impersonation a token stands on was revoked (the API answers 401/31 with it)."""


def service_account_type(user, *, impersonated: bool = False) -> int:
    """What goes into `identity.service_account_type` of USER's tokens (no query for people).

    An impersonated token never says it may impersonate: that right is not carried.
    """
    if not getattr(user, "is_service_account", False):
        return SERVICE_ACCOUNT_NONE
    if impersonated:
        return SERVICE_ACCOUNT_PLAIN
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


# --- Grants -----------------------------------------------------------------------------------------


@transaction.atomic
def grant_obtain(*, credential: Credential, caller, impersonation: Impersonation) -> ImpersonationGrant:
    """The active grant for CALLER acting as the target through CREDENTIAL: the existing one,
    or a new one (audited: the caller as actor, the owner as "on behalf of")."""
    owner, workspace = impersonation.user, impersonation.workspace
    grant = (
        ImpersonationGrant.objects.filter(
            credential=credential, caller=caller, owner=owner, workspace=workspace, revoked_at__isnull=True
        )
        .order_by("-id")
        .first()
    )
    if grant is not None:
        return grant
    grant = ImpersonationGrant.objects.create(
        workspace=workspace, credential=credential, caller=caller, owner=owner
    )
    audit_log(
        actor=caller,
        on_behalf_of=owner,
        action="impersonation.grant",
        workspace=workspace,
        target=grant,
        target_label=owner.email,
        after={"credential": credential.access_key, "owner": owner.email},
    )
    return grant


def _grant_rights():
    """Annotations of an ImpersonationGrant queryset: what the grant still stands on."""
    memberships = Membership.objects.filter(workspace=OuterRef("workspace_id"))
    return {
        "owner_is_member": Exists(memberships.filter(user=OuterRef("owner_id"))),
        "caller_role": Subquery(memberships.filter(user=OuterRef("caller_id")).values("role")[:1]),
        "caller_flag": Exists(
            ServiceAccount.objects.filter(
                user=OuterRef("caller_id"), workspace=OuterRef("workspace_id"), allow_impersonation=True
            )
        ),
    }


def grant_db_verdict(grant_id: int) -> tuple[str | None, frozenset[str]]:
    """The database's word on GRANT_ID for workspaces.revocation, in one query:
    REVOKED (the grant or its credential revoked, or gone), REFUSED (the caller or the owner
    deactivated, or no longer holding what the grant stood on), None (allowed);
    and the ids of the two users it depends on."""
    row = (
        ImpersonationGrant.objects.filter(pk=grant_id)
        .annotate(**_grant_rights())
        .values_list(
            "revoked_at",
            "credential__revoked_at",
            "caller_id",
            "owner_id",
            "caller__is_active",
            "owner__is_active",
            "owner_is_member",
            "caller_role",
            "caller_flag",
        )
        .first()
    )
    if row is None or row[0] is not None or row[1] is not None:
        return revocation.REVOKED, frozenset()
    _, _, caller_id, owner_id, caller_active, owner_active, owner_is_member, caller_role, caller_flag = row
    users = frozenset({caller_id.hex, owner_id.hex})
    may = caller_role is not None and (caller_role >= Role.ADMIN or caller_flag)
    allowed = caller_active and owner_active and owner_is_member and may
    return (None if allowed else revocation.REFUSED), users


def grant_recheck(*, grant_id: int, credential_id: int, owner_id: str, workspace_id: str) -> Impersonation:
    """For a Bearer `auth.login` refresh of an impersonated token: everything checked again in
    the database (not the cache). Raises GrantRevoked or ImpersonationDenied."""
    grant = (
        ImpersonationGrant.objects.select_related("caller", "credential")
        .filter(pk=grant_id, credential_id=credential_id)
        .first()
    )
    if (
        grant is None
        or grant.revoked_at is not None
        or grant.credential.revoked_at is not None
        or grant.owner_id.hex != owner_id
        or grant.workspace_id.hex != workspace_id
    ):
        raise GrantRevoked(
            "This impersonation was revoked: log in again with the service account's key pair."
        )
    if not grant.caller.is_active:
        raise GrantRevoked("The identity that impersonated this user is deactivated.")
    return impersonation_check(caller=grant.caller, workspace_id=grant.workspace_id, target=owner_id)


def grants_revoke(*, workspace, user, as_caller: bool = True, as_owner: bool = True, reason: str) -> int:
    """Revoke the active grants of WORKSPACE that USER obtained (AS_CALLER) or is impersonated
    by (AS_OWNER); their tokens stop at once once the transaction commits. Returns the count."""
    who = Q()
    if as_caller:
        who |= Q(caller=user)
    if as_owner:
        who |= Q(owner=user)
    if not who:
        return 0
    active = ImpersonationGrant.objects.for_workspace(workspace).filter(who, revoked_at__isnull=True)
    ids = list(active.values_list("pk", flat=True))
    if not ids:
        return 0
    ImpersonationGrant.objects.filter(pk__in=ids).update(
        revoked_at=timezone.now(), revoked_reason=reason[:100]
    )
    transaction.on_commit(lambda: revocation.publish_grants_revoked(ids))
    return len(ids)
