"""Who is calling: Basic key pairs (auth.login only), Bearer tokens (every other call).

The protocol lives here (header parsing, token exchange, last-used throttling); what it
needs from the portal's data goes through hooks (hooks.py): the identity store of the
workspaces app checks key pairs and revocation, and records last use; the impersonation
handler of the access app answers `X-ClearML-Impersonate-As` (used by
`clearml-agent --use-owner-token`) and refreshes impersonated tokens.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time

from . import hooks, tokens
from .call import ApiCall
from .errors import BadAuthType, BadCredentials, Forbidden, InvalidCredentials, NoCredentials

IMPERSONATE_HEADER = "X-ClearML-Impersonate-As"
TENANT_HEADER = "X-ClearML-Tenant"
# last_used is written at most this often per credential and process: "last used" is
# precise to a minute, and neither calls nor logins cost a database write each.
LAST_USED_INTERVAL = 60.0

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
    hooks.identity_store().check_token(claims)
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
    hooks.identity_store().credential_used(credential_id, used_from(call))


def reset_last_used_throttle() -> None:
    _last_written.clear()


def service_account_type(user, *, impersonated: bool = False) -> int:
    """`identity.service_account_type` of USER's tokens: the impersonation handler's word, 0 without one."""
    handler = hooks.impersonation_handler()
    if handler is None:
        return tokens.SERVICE_ACCOUNT_NONE
    return handler.service_account_type(user, impersonated=impersonated)


def token_for(principal: hooks.Principal, *, expiration_sec: int) -> str:
    """A token of PRINCIPAL's own identity (never an impersonated one)."""
    user, workspace = principal.user, principal.workspace
    return tokens.issue(
        user_id=user.id.hex,
        user_name=user.username,
        company_id=workspace.id.hex,
        company_name=workspace.name,
        role=principal.role,
        credential_id=principal.credential.pk,
        expiration_sec=expiration_sec,
        service_account_type=service_account_type(user),
    )


def login(call: ApiCall) -> str:
    """auth.login: a new token for a Basic key pair, or in exchange for a valid Bearer token."""
    expiration_sec = tokens.clamp_expiration(call.data.get("expiration_sec"))
    scheme, value = _authorization(call)
    if scheme == "basic":
        principal = hooks.identity_store().key_pair(*_decode_basic(value))
    elif scheme == "bearer":
        # Token exchange: the same identity, workspace and credential, a fresh expiry.
        authenticate(call)
        if call.is_impersonated:
            if wants_impersonation(call):
                raise Forbidden("An impersonated token cannot impersonate another user.")
            return _impersonation().refresh(call, expiration_sec=expiration_sec)
        principal = hooks.identity_store().principal(call)
    else:
        raise BadAuthType(f"expected Basic or Bearer, got {scheme}")
    if principal.role is None:
        # Leaving revokes the member's credentials; this is the belt to those braces.
        raise InvalidCredentials("not a member of the credentials' workspace")
    if wants_impersonation(call):
        target = call.headers.get(IMPERSONATE_HEADER, "").strip()
        return _impersonation().impersonate(
            call,
            principal=principal,
            target=hooks.resolve_user_alias(principal.workspace.id.hex, target),
            tenant=call.headers.get(TENANT_HEADER),
            expiration_sec=expiration_sec,
        )
    token = token_for(principal, expiration_sec=expiration_sec)
    if scheme == "basic":  # a Bearer exchange was noted by authenticate()
        note_used(principal.credential.pk, call)
    return token


def wants_impersonation(call: ApiCall) -> bool:
    return IMPERSONATE_HEADER.lower() in {key.lower() for key in call.headers}


def _impersonation() -> hooks.ImpersonationHandler:
    handler = hooks.impersonation_handler()
    if handler is None:
        raise Forbidden("Impersonation is not available on this server.")
    return handler


def _decode_basic(value: str) -> tuple[str, str]:
    """(access_key, secret_key) of a Basic `access_key:secret_key` header value."""
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("latin-1")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadCredentials("cannot decode the Basic credentials") from None
    access_key, sep, secret_key = decoded.partition(":")
    if not sep or not access_key:
        raise BadCredentials("expected access_key:secret_key")
    if "\x00" in decoded:  # PostgreSQL refuses NUL in a query parameter
        raise BadCredentials("the Basic credentials hold a NUL character")
    return access_key, secret_key
