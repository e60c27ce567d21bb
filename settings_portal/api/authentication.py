"""Who is calling: Basic key pairs (auth.login only), Bearer tokens (every other call).

Impersonation (`X-ClearML-Impersonate-As`, used by `clearml-agent --use-owner-token`)
enters through `impersonate()`; the rules (service accounts with "Allow
impersonation", or admins; the new token carries the owner's identity with the role
capped at member, never the caller's rights, and names a revocable grant) are in
access/impersonation.py. A Bearer refresh of an impersonated token re-checks them
(`refresh_impersonated`) and stays impersonated.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time

from django.utils import timezone

from settings_portal.crypto import hashes_match, keyed_hash
from workspaces import revocation

from . import tokens
from .call import ApiCall
from .errors import (
    BadAuthType,
    BadCredentials,
    BlockedToken,
    Forbidden,
    InvalidCredentials,
    NoCredentials,
)

IMPERSONATE_HEADER = "X-ClearML-Impersonate-As"
TENANT_HEADER = "X-ClearML-Tenant"
# last_used is written at most this often per credential and process: "last used" is
# precise to a minute, and neither calls nor logins cost a database write each.
LAST_USED_INTERVAL = 60.0

_DUMMY_HASH = keyed_hash("no such credential")
_last_written: dict[int, float] = {}
_last_written_lock = threading.Lock()


def _authorization(call: ApiCall) -> tuple[str, str]:
    header = call.request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise NoCredentials()
    scheme, _, value = header.strip().partition(" ")
    return scheme.lower(), value.strip()


def authenticate(call: ApiCall) -> None:
    """Require a valid Bearer token whose credential is not revoked; fills `call.claims`."""
    scheme, value = _authorization(call)
    if scheme != "bearer":
        raise BadAuthType(f"expected a Bearer token, got {scheme or 'nothing'}")
    if not value:
        raise NoCredentials("empty Bearer token")
    claims = tokens.verify(value)
    if revocation.is_revoked(claims["credential_id"]):
        raise BlockedToken("the credentials of this token were revoked")
    grant_id = claims.get("grant_id")
    if grant_id is not None and revocation.grant_is_revoked(grant_id):
        raise BlockedToken(
            "this impersonated token was revoked (the impersonation was switched off or revoked, "
            "the user left, or an account was deactivated)"
        )
    call.claims = claims
    call.token = value
    note_used(claims["credential_id"], call)


def used_from(call: ApiCall) -> str:
    """What `last_used_from` shows: the client's worker name (hostname) and address."""
    worker = call.request.META.get("HTTP_X_CLEARML_WORKER", "").strip()
    addr = call.remote_addr
    text = f"{worker} ({addr})" if worker and addr else worker or addr
    return text[:255]


def note_used(credential_id: int, call: ApiCall, *, force: bool = False) -> None:
    """Record last_used without a database write per request: at most once per
    LAST_USED_INTERVAL per credential in this process, and always when FORCE."""
    now = time.monotonic()
    last = _last_written.get(credential_id)
    if not force and last is not None and now - last < LAST_USED_INTERVAL:
        return
    with _last_written_lock:
        last = _last_written.get(credential_id)
        if not force and last is not None and now - last < LAST_USED_INTERVAL:
            return
        _last_written[credential_id] = now
    from workspaces.models import Credential

    Credential.objects.filter(pk=credential_id).update(
        last_used_at=timezone.now(), last_used_from=used_from(call)
    )


def reset_last_used_throttle() -> None:
    _last_written.clear()


def _token_for(*, credential, user, workspace, role: int, expiration_sec: int) -> str:
    from access.impersonation import service_account_type
    from workspaces.models import Role

    return tokens.issue(
        user_id=user.id.hex,
        user_name=user.username,
        company_id=workspace.id.hex,
        company_name=workspace.name,
        role="admin" if role >= Role.ADMIN else "user",
        credential_id=credential.pk,
        expiration_sec=expiration_sec,
        service_account_type=service_account_type(user),
    )


def login(call: ApiCall) -> str:
    """auth.login: a new token for a Basic key pair, or in exchange for a valid Bearer token."""
    expiration_sec = tokens.clamp_expiration(call.data.get("expiration_sec"))
    scheme, value = _authorization(call)
    if scheme == "basic":
        credential = _check_key_pair(value)
        user, workspace, role = credential.user, credential.workspace, credential.member_role
    elif scheme == "bearer":
        # Token exchange: the same identity, workspace and credential, a fresh expiry.
        authenticate(call)
        if call.is_impersonated:
            if _wants_impersonation(call):
                raise Forbidden("An impersonated token cannot impersonate another user.")
            return refresh_impersonated(call, expiration_sec=expiration_sec)
        credential, user, membership = call.credential, call.user, call.membership
        workspace, role = (membership.workspace, membership.role) if membership else (None, None)
    else:
        raise BadAuthType(f"expected Basic or Bearer, got {scheme}")
    if role is None:
        # Leaving revokes the member's credentials; this is the belt to those braces.
        raise InvalidCredentials("not a member of the credentials' workspace")
    if _wants_impersonation(call):
        return impersonate(call, credential=credential, caller=user, expiration_sec=expiration_sec)
    token = _token_for(
        credential=credential, user=user, workspace=workspace, role=role, expiration_sec=expiration_sec
    )
    if scheme == "basic":  # a Bearer exchange was noted by authenticate()
        note_used(credential.pk, call)
    return token


def _wants_impersonation(call: ApiCall) -> bool:
    return IMPERSONATE_HEADER.lower() in {key.lower() for key in call.headers}


def _check_key_pair(value: str):
    """The active credential of a Basic `access_key:secret_key`, with its user, workspace and
    the user's role there (`member_role`, None if no longer a member), in one query."""
    from django.db.models import OuterRef, Subquery

    from workspaces.models import Credential, Membership

    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("latin-1")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadCredentials("cannot decode the Basic credentials") from None
    access_key, sep, secret_key = decoded.partition(":")
    if not sep or not access_key:
        raise BadCredentials("expected access_key:secret_key")
    if "\x00" in decoded:  # PostgreSQL refuses NUL in a query parameter
        raise BadCredentials("the Basic credentials hold a NUL character")
    role = Membership.objects.filter(workspace=OuterRef("workspace_id"), user=OuterRef("user_id")).values(
        "role"
    )
    found = list(
        Credential.objects.select_related("user", "workspace")
        .filter(access_key=access_key, revoked_at__isnull=True, user__is_active=True)
        .annotate(member_role=Subquery(role[:1]))
        .order_by()[:1]
    )
    credential = found[0] if found else None
    # Compare against a dummy when the key is unknown, so timing does not tell keys apart.
    matches = hashes_match(secret_key, credential.secret_hash if credential else _DUMMY_HASH)
    if credential is None or not matches:
        raise InvalidCredentials("failed to locate provided credentials")
    # The row just read is the database's word on revocation; no cache check needed.
    return credential


def impersonate(call: ApiCall, *, credential, caller, expiration_sec: int) -> str:
    """The hook for `X-ClearML-Impersonate-As` on auth.login.

    Service accounts implement it: check that CALLER may impersonate (a service
    account with "Allow impersonation", or an admin of the workspace), that the
    target (the header's user id, in the workspace named by X-ClearML-Tenant or the
    credential's) is a member, then issue a token with the target's identity, the role
    capped at member, `credential_id` = CREDENTIAL and the grant it stands on, so
    revoking either blocks the tokens it obtained.
    """
    from access.impersonation import ImpersonationDenied, grant_obtain, impersonation_check

    try:
        target = impersonation_check(
            caller=caller,
            workspace_id=credential.workspace_id,
            target=call.headers.get(IMPERSONATE_HEADER, ""),
            tenant=call.headers.get(TENANT_HEADER),
        )
    except ImpersonationDenied as exc:
        raise Forbidden(str(exc)) from None
    grant = grant_obtain(credential=credential, caller=caller, impersonation=target)
    token = _impersonated_token(
        target,
        credential_id=credential.pk,
        caller_id=caller.id.hex,
        grant_id=grant.pk,
        expiration_sec=expiration_sec,
    )
    note_used(credential.pk, call, force=True)
    return token


def refresh_impersonated(call: ApiCall, *, expiration_sec: int) -> str:
    """auth.login with an impersonated Bearer token: a fresh impersonated token (never one with
    the owner's own rights), after checking again in the database that the grant, the caller's
    credential and right to impersonate, and the owner's membership all still hold."""
    from access.impersonation import GrantRevoked, ImpersonationDenied, grant_recheck

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
    from access.impersonation import service_account_type

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
