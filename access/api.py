"""The access app in the API: impersonation (`X-ClearML-Impersonate-As` on auth.login, used by
`clearml-agent --use-owner-token`) and the service-account type tokens carry, registered as the
transport's impersonation handler (settings_portal/api/hooks.py) by `AccessConfig.ready()`.

The rules are in impersonation.py: service accounts with "Allow impersonation", or admins; the
new token carries the owner's identity with the role capped at member, never the caller's
rights, and names a revocable grant. A Bearer refresh of an impersonated token re-checks them
and stays impersonated.
"""

from __future__ import annotations

from settings_portal.api import ApiCall, hooks, tokens
from settings_portal.api.authentication import note_used
from settings_portal.api.errors import BlockedToken, Forbidden

from .impersonation import (
    GrantRevoked,
    ImpersonationDenied,
    grant_obtain,
    grant_recheck,
    impersonation_check,
    service_account_type,
)


class ImpersonationHandler:
    """hooks.ImpersonationHandler."""

    def service_account_type(self, user, *, impersonated: bool = False) -> int:
        return service_account_type(user, impersonated=impersonated)

    def impersonate(
        self,
        call: ApiCall,
        *,
        principal: hooks.Principal,
        target: str,
        tenant: str | None,
        expiration_sec: int,
    ) -> str:
        """Check that the caller may impersonate (a service account with "Allow impersonation",
        or an admin of the workspace), that the target (the header's user id, in the workspace
        named by X-ClearML-Tenant or the credential's) is a member, then issue a token with the
        target's identity, the role capped at member, `credential_id` = the caller's credential
        and the grant it stands on, so revoking either blocks the tokens it obtained."""
        credential, caller = principal.credential, principal.user
        try:
            impersonation = impersonation_check(
                caller=caller,
                workspace_id=credential.workspace_id,
                target=target,
                tenant=tenant,
            )
        except ImpersonationDenied as exc:
            raise Forbidden(str(exc)) from None
        grant = grant_obtain(credential=credential, caller=caller, impersonation=impersonation)
        token = _impersonated_token(
            impersonation,
            credential_id=credential.pk,
            caller_id=caller.id.hex,
            grant_id=grant.pk,
            expiration_sec=expiration_sec,
        )
        note_used(credential.pk, call, force=True)
        return token

    def refresh(self, call: ApiCall, *, expiration_sec: int) -> str:
        """A fresh impersonated token (never one with the owner's own rights), after checking
        again in the database that the grant, the caller's credential and right to
        impersonate, and the owner's membership all still hold."""
        try:
            target = grant_recheck(
                grant_id=call.claims["grant_id"],
                credential_id=call.credential_id,
                owner_id=call.user_id,
                workspace_id=call.workspace_id,
            )
        except GrantRevoked as exc:
            raise BlockedToken(str(exc)) from None
        except ImpersonationDenied as exc:
            raise Forbidden(str(exc)) from None
        return _impersonated_token(
            target,
            credential_id=call.credential_id,
            caller_id=call.impersonated_by,
            grant_id=call.claims["grant_id"],
            expiration_sec=expiration_sec,
        )


def _impersonated_token(
    target, *, credential_id: int, caller_id: str, grant_id: int, expiration_sec: int
) -> str:
    return tokens.issue(
        user_id=target.user.id.hex,
        user_name=target.user.username,
        company_id=target.workspace.id.hex,
        company_name=target.workspace.name,
        role="user",  # capped at member, whatever the owner's role
        credential_id=credential_id,
        expiration_sec=expiration_sec,
        service_account_type=service_account_type(target.user, impersonated=True),
        extra={"impersonated_by": caller_id, "grant_id": grant_id},
    )


def register_hooks() -> None:
    hooks.set_impersonation_handler(ImpersonationHandler())
