"""Identity connections (admin changes) and SSO sign-in (identity resolution, JIT users, group sync)."""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from access import services as access_services
from access.models import UserGroup
from accounts.models import User
from accounts.services import user_create
from workspaces.audit import audit_log
from workspaces.invitations import invitation_accept
from workspaces.models import Invitation, Workspace
from workspaces.selectors import is_member
from workspaces.services import membership_add

from .forms import SECRET_FIELDS, ConnectionForm
from .models import ExternalIdentity, IdentityConnection

AUDITED_FIELDS_SKIP = {"idp_metadata", "idp_metadata_file", "sp_public_key"}
NOT_AUDITED = {"connection_id", "provider"}  # form plumbing; preset parameters live in the URLs


def _diff(form: ConnectionForm) -> tuple[dict, dict]:
    before, after = {}, {}
    for name in form.changed_data:
        if name in NOT_AUDITED or name.startswith("param_"):
            continue
        if name in AUDITED_FIELDS_SKIP:
            before[name], after[name] = "(changed)", "(changed)"
        elif name in SECRET_FIELDS:
            if form.cleaned_data.get(name) != form._stored_secrets.get(name):
                before[name] = after[name] = "********"
        else:
            before[name] = form.initial.get(name)
            after[name] = form.cleaned_data.get(name)
    return before, after


@transaction.atomic
def connection_save(*, form: ConnectionForm, workspace: Workspace, actor) -> IdentityConnection:
    """Create or update the connection FORM holds (already validated)."""
    connection = form.instance
    created = connection._state.adding
    connection.workspace = workspace
    connection.protocol = form.protocol
    connection.updated_at = timezone.now()
    before, after = _diff(form)
    connection.save()
    if created:
        audit_log(
            actor=actor,
            action="identity.create",
            workspace=workspace,
            target=connection,
            target_label=connection.name,
            after={"name": connection.name, "protocol": connection.protocol, "provider": connection.provider},
        )
    elif after:
        audit_log(
            actor=actor,
            action="identity.update",
            workspace=workspace,
            target=connection,
            target_label=connection.name,
            before=before,
            after=after,
        )
    return connection


@transaction.atomic
def connection_set_enabled(*, connection: IdentityConnection, actor, enabled: bool) -> None:
    if connection.enabled == enabled:
        return
    connection.enabled = enabled
    connection.updated_at = timezone.now()
    connection.save(update_fields=["enabled", "updated_at"])
    audit_log(
        actor=actor,
        action="identity.enable" if enabled else "identity.disable",
        workspace=connection.workspace,
        target=connection,
        target_label=connection.name,
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )


@transaction.atomic
def connection_delete(*, connection: IdentityConnection, actor) -> None:
    """Delete CONNECTION and its linked identities (users keep their accounts)."""
    audit_log(
        actor=actor,
        action="identity.delete",
        workspace=connection.workspace,
        target=connection,
        target_label=connection.name,
        before={"name": connection.name, "protocol": connection.protocol},
    )
    connection.delete()


# --- Sign-in ------------------------------------------------------------------------------------


class SignInRefused(Exception):
    """The provider's answer does not let anyone sign in; the message is shown to the user."""


def _text(value) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value).strip()


def _truthy(value) -> bool:
    if isinstance(value, list):
        value = value[0] if value else None
    return value is True or (isinstance(value, str) and value.lower() == "true")


# SAML attributes often arrive under their OIDs (pitfall 8): a mapping may name either form.
OID_NAMES = {
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "email": "urn:oid:1.2.840.113549.1.9.1",
    "emailaddress": "urn:oid:1.2.840.113549.1.9.1.1",
    "uid": "urn:oid:0.9.2342.19200300.100.1.1",
    "cn": "urn:oid:2.5.4.3",
    "givenname": "urn:oid:2.5.4.42",
    "sn": "urn:oid:2.5.4.4",
    "displayname": "urn:oid:2.16.840.1.113730.3.1.241",
    "edupersonprincipalname": "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
}
NAMES_BY_OID = {oid: name for name, oid in OID_NAMES.items()}


def _claim(claims: dict, name: str):
    if not name:
        return None
    if name in claims:
        return claims[name]
    alias = OID_NAMES.get(name.lower()) or NAMES_BY_OID.get(name)
    if alias is None:
        return None
    for key, value in claims.items():
        if key == alias or key.lower() == alias:
            return value
    return None


def map_claims(connection: IdentityConnection, claims: dict) -> dict:
    """The portal's view of the provider's claims, through the connection's mappings."""
    groups = _claim(claims, connection.claim_groups)
    if isinstance(groups, str):
        groups = [groups]
    name = _text(_claim(claims, connection.claim_name))
    given = _text(_claim(claims, connection.claim_given_name))
    family = _text(_claim(claims, connection.claim_family_name))
    return {
        "user_id": _text(_claim(claims, connection.claim_user_id)),
        "email": _text(_claim(claims, connection.claim_email)).lower(),
        "email_verified": _truthy(claims.get("email_verified")),
        "name": name or " ".join(p for p in (given, family) if p),
        "given_name": given,
        "family_name": family,
        "picture": _text(_claim(claims, connection.claim_picture)),
        "groups": [str(g) for g in groups] if isinstance(groups, list) else None,
    }


AVATAR_URL_MAX = 500


def avatar_url_from_claim(value: str) -> str:
    """The picture claim as an avatar the portal may show: an https URL with a host, at most
    AVATAR_URL_MAX characters; anything else ("javascript:", "data:", plain http) is dropped."""
    if not value or len(value) > AVATAR_URL_MAX:
        return ""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        return ""
    return value


@dataclass
class SignInPlan:
    """What a sign-in would do: shown by Test Provider, carried out by `sign_in_apply`."""

    mapped: dict
    user: User | None = None
    identity: ExternalIdentity | None = None
    action: str = ""  # "existing", "link", "create"
    invitation: Invitation | None = None  # a pending invitation the sign-in accepts
    join_workspace: bool = False
    groups_added: list[str] = field(default_factory=list)
    groups_removed: list[str] = field(default_factory=list)
    unmatched_groups: list[str] = field(default_factory=list)


def _group_changes(connection: IdentityConnection, user: User | None, groups: list[str] | None):
    if not connection.sync_groups or groups is None:
        return [], [], []
    workspace_groups = {
        g.name: g for g in UserGroup.objects.for_workspace(connection.workspace).filter(builtin="")
    }
    wanted = {name for name in groups if name in workspace_groups}
    current = set()
    if user is not None:
        current = set(
            UserGroup.objects.for_workspace(connection.workspace)
            .filter(builtin="", memberships__user=user)
            .values_list("name", flat=True)
        )
    unmatched = sorted(set(groups) - set(workspace_groups))
    return sorted(wanted - current), sorted(current - wanted), unmatched


def sign_in_plan(*, connection: IdentityConnection, claims: dict) -> SignInPlan:
    """Resolve the provider's claims to a portal user without changing anything.

    Raises SignInRefused when nobody may sign in. An existing account is only ever reached
    through its link to this connection, or (when the connection allows it) by an email the
    provider marks verified and only for a member of the connection's workspace: an unverified
    email never links or signs in (account takeover).
    """
    mapped = map_claims(connection, claims)
    if not mapped["user_id"]:
        raise SignInRefused("The identity provider sent no user id.")
    plan = SignInPlan(mapped=mapped)
    identity = (
        ExternalIdentity.objects.select_related("user")
        .filter(connection=connection, subject=mapped["user_id"])
        .first()
    )
    if identity is not None:
        plan.identity, plan.user, plan.action = identity, identity.user, "existing"
    else:
        if connection.require_verified_email and not mapped["email_verified"]:
            raise SignInRefused("Your identity provider has not verified your email address.")
        existing = User.objects.filter(email__iexact=mapped["email"]).first() if mapped["email"] else None
        if existing is not None:
            # Linking is confined to members of the connection's workspace (never site operators):
            # a workspace's administrator controls its provider and must not reach other accounts.
            linkable = (
                connection.link_by_verified_email
                and mapped["email_verified"]
                and not existing.is_staff
                and is_member(workspace=connection.workspace, user=existing)
            )
            if not linkable:
                raise SignInRefused(
                    "An account with this email already exists. Sign in with your password; "
                    "an administrator can allow linking it to this provider."
                )
            plan.user, plan.action = existing, "link"
        else:
            # Invited by email: the invitation says who may join, and with which role, even when the
            # connection does not create users (the seed: "users who were invited using their email").
            if mapped["email"] and mapped["email_verified"]:
                plan.invitation = (
                    Invitation.objects.for_workspace(connection.workspace)
                    .pending()
                    .filter(email__iexact=mapped["email"])
                    .first()
                )
            if mapped["email"] and (connection.create_users or plan.invitation is not None):
                plan.action = "create"
            else:
                raise SignInRefused(
                    "No account is linked to this identity, and this connection does not create users."
                )
    if plan.user is not None and (not plan.user.is_active or plan.user.is_service_account):
        raise SignInRefused("This account is disabled.")
    already_member = plan.user is not None and is_member(workspace=connection.workspace, user=plan.user)
    plan.join_workspace = not already_member
    plan.groups_added, plan.groups_removed, plan.unmatched_groups = _group_changes(
        connection, plan.user, mapped["groups"]
    )
    return plan


def _unique_username(mapped: dict) -> str:
    """The display name from the provider's name claims (else the email's local part), made unique."""
    allowed = re.sub(r"[^\w.@+\- ]", "", mapped["name"]).strip()
    base = (allowed or mapped["email"].split("@")[0] or "user")[:56]
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@transaction.atomic
def sign_in_apply(*, connection: IdentityConnection, plan: SignInPlan, ip_address: str | None = None) -> User:
    """Carry out PLAN: create or link the user, join the workspace, sync groups."""
    workspace = connection.workspace
    mapped = plan.mapped
    user = plan.user
    if plan.action == "create":
        try:
            user = user_create(email=mapped["email"], password=None, username=_unique_username(mapped))
        except ValidationError as exc:
            raise SignInRefused("The identity provider sent an email address the portal cannot use.") from exc
        audit_log(
            actor=user,
            action="identity.user_create",
            workspace=workspace,
            target=connection,
            target_label=user.email,
            ip_address=ip_address,
        )
    if user is None:
        raise PermissionDenied("Nobody to sign in.")
    identity = plan.identity
    if identity is None:
        identity = ExternalIdentity.objects.create(
            connection=connection, subject=mapped["user_id"], user=user
        )
        audit_log(
            actor=user,
            action="identity.link",
            workspace=workspace,
            target=connection,
            target_label=user.email,
            after={"subject": mapped["user_id"]},
            ip_address=ip_address,
        )
    identity.last_login_at = timezone.now()
    identity.save(update_fields=["last_login_at"])
    avatar = avatar_url_from_claim(mapped["picture"])
    if avatar and avatar != user.avatar_url:
        user.avatar_url = avatar
        user.save(update_fields=["avatar_url"])
    if plan.invitation is not None:
        try:
            invitation_accept(invitation=plan.invitation, user=user)
        except (ValidationError, PermissionDenied) as exc:  # used or revoked since the plan was made
            if not connection.create_users:
                raise SignInRefused("Your invitation is no longer valid.") from exc
    if plan.join_workspace:
        membership_add(workspace=workspace, user=user)
    if connection.sync_groups and mapped["groups"] is not None:
        added, removed, _ = _group_changes(connection, user, mapped["groups"])
        groups = {
            g.name: g for g in UserGroup.objects.for_workspace(workspace).filter(name__in=added + removed)
        }
        for name in added:
            access_services.group_add_member(group=groups[name], actor=None, user=user)
        for name in removed:
            access_services.group_remove_member(group=groups[name], actor=None, user=user)
    audit_log(
        actor=user,
        action="identity.sign_in",
        workspace=workspace,
        target=connection,
        target_label=user.email,
        ip_address=ip_address,
    )
    return user
