"""The workspaces app in the API: the credential endpoints, and the identity store the transport
uses to load who a token names, check key pairs, refuse revoked tokens and record last use
(settings_portal/api/hooks.py). `WorkspacesConfig.ready()` imports this module and registers them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from settings_portal.api import ApiCall, endpoint, hooks
from settings_portal.api.errors import BlockedToken, InvalidCredentials, InvalidToken, InvalidUser

from . import credentials as credential_services
from . import revocation
from .audit import acting_on_behalf
from .models import Credential, Membership, Role, Workspace


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def role_claim(role: int | None) -> str | None:
    """A membership role as tokens say it: "admin" or "user" (None: not a member)."""
    if role is None:
        return None
    return "admin" if role >= Role.ADMIN else "user"


class IdentityStore:
    """hooks.IdentityStore over the portal's database and the revocation cache."""

    def user(self, call: ApiCall):
        user_id = call.user_id
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None
        if user is None:
            raise InvalidToken("unknown or inactive user")
        return user

    def workspace(self, call: ApiCall) -> Workspace:
        workspace = Workspace.objects.filter(pk=call.workspace_id).first() if call.workspace_id else None
        if workspace is None:
            raise InvalidToken("unknown workspace")
        return workspace

    def membership(self, call: ApiCall) -> Membership | None:
        membership = (
            Membership.objects.select_related("workspace")
            .filter(user_id=call.user_id, workspace_id=call.workspace_id)
            .first()
        )
        if membership is not None and call.is_impersonated and membership.role > Role.MEMBER:
            membership.role = Role.MEMBER
        return membership

    def credential(self, call: ApiCall) -> Credential:
        credential_id = call.credential_id
        credential = Credential.objects.filter(pk=credential_id).first() if credential_id else None
        if credential is None:
            raise InvalidToken("unknown credentials")
        return credential

    def key_pair(self, access_key: str, secret_key: str) -> hooks.Principal:
        credential = credential_services.credential_for_key_pair(access_key, secret_key)
        if credential is None:
            raise InvalidCredentials("failed to locate provided credentials")
        role = credential.member_role
        return hooks.Principal(
            credential=credential,
            user=credential.user,
            workspace=credential.workspace if role is not None else None,
            role=role_claim(role),
        )

    def principal(self, call: ApiCall) -> hooks.Principal:
        membership = call.membership
        return hooks.Principal(
            credential=call.credential,
            user=call.user,
            workspace=membership.workspace if membership else None,
            role=role_claim(membership.role) if membership else None,
        )

    def check_token(self, claims: dict[str, Any]) -> None:
        if revocation.is_revoked(claims["credential_id"]):
            raise BlockedToken("the credentials of this token were revoked")
        grant_id = claims.get("grant_id")
        if grant_id is not None and revocation.grant_is_revoked(grant_id):
            raise BlockedToken(
                "this impersonated token was revoked (the impersonation was switched off or revoked, "
                "the user left, or an account was deactivated)"
            )

    def credential_used(self, credential_id: int, used_from: str) -> None:
        Credential.objects.filter(pk=credential_id).update(
            last_used_at=timezone.now(), last_used_from=used_from
        )


def audit_context(call: ApiCall):
    """Audit rows written during an impersonated call name the real actor (workspaces.audit)."""
    if not call.is_impersonated:
        return None
    return acting_on_behalf(caller_id=call.impersonated_by, owner_id=call.user_id)


def register_hooks() -> None:
    hooks.set_identity_store(IdentityStore())
    hooks.add_call_context(audit_context)


# --- the credential endpoints -----------------------------------------------------------------
# They are administrative: an impersonated token never reaches them (impersonated=False), so a
# task running as its owner cannot mint, list or revoke keys.


@endpoint("auth.create_credentials", impersonated=False)
def create_credentials(call: ApiCall) -> dict:
    """A key pair for the token's user in the token's workspace; the secret is shown only here."""
    credential, secret = credential_services.credential_create(
        workspace=call.workspace, actor=call.user, label=call.str_field("label")
    )
    return {
        "credentials": {"access_key": credential.access_key, "secret_key": secret, "label": credential.label}
    }


@endpoint("auth.get_credentials", impersonated=False)
def get_credentials(call: ApiCall) -> dict:
    """The workspace's active credentials the caller may see (all for admins, else their own)."""
    listing = credential_services.credential_list(
        workspace=call.workspace, viewer=call.user, membership=call.membership
    )
    return {
        "credentials": [
            {
                "access_key": credential.access_key,
                "label": credential.label,
                "last_used": _iso(credential.last_used_at),
                "last_used_from": credential.last_used_from or None,
                "created": _iso(credential.created_at),
                "user": credential.user_id.hex,
            }
            for credential in listing
        ]
    }


def _credential_for_change(call: ApiCall) -> Credential:
    """The active credential named by `access_key` among those the caller could manage:
    in the token's workspace, or theirs/created by them anywhere. Others do not exist."""
    access_key = call.str_field("access_key", required=True)
    user = call.user
    credential = (
        Credential.objects.select_related("workspace", "user")
        .active()
        .filter(access_key=access_key)
        .filter(Q(workspace_id=call.workspace_id) | Q(user=user) | Q(created_by=user))
        .first()
    )
    if credential is None:
        raise InvalidUser("invalid user or invalid access key", data={"access_key": access_key})
    return credential


@endpoint("auth.edit_credentials", impersonated=False)
def edit_credentials(call: ApiCall) -> dict:
    credential = _credential_for_change(call)
    before = credential.label
    credential = credential_services.credential_edit_label(
        credential=credential, actor=call.user, label=call.str_field("label")
    )
    return {"updated": int(credential.label != before)}


@endpoint("auth.revoke_credentials", impersonated=False)
def revoke_credentials(call: ApiCall) -> dict:
    credential = _credential_for_change(call)
    credential_services.credential_revoke(credential=credential, actor=call.user)
    return {"revoked": 1}
