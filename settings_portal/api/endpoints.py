"""The portal's own endpoints: auth.*, users.get_current_user/get_preferences, debug.ping."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.models import Q

from workspaces import credentials as credential_services
from workspaces.models import Credential, Role

from . import authentication
from .call import ApiCall
from .errors import InvalidToken, InvalidUser
from .registry import endpoint

# users.get_current_user answers from a per-process snapshot this many seconds old at
# most, so the hot path costs no query; renames and role changes show within it.
PROFILE_TTL = 5.0
_profiles: dict[tuple[str, str, bool], tuple[float, dict[str, Any]]] = {}
_profiles_lock = threading.Lock()


def _iso(value) -> str | None:
    return value.isoformat() if value else None


@endpoint("debug.ping", auth=False)
def ping(call: ApiCall) -> dict:
    return {"msg": "ClearML-compatible settings portal"}


@endpoint("auth.login", auth=False)
def login(call: ApiCall) -> dict:
    return {"token": authentication.login(call)}


# The credential endpoints are administrative: an impersonated token never reaches them
# (impersonated=False), so a task running as its owner cannot mint, list or revoke keys.


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


def preferences_dict(preferences) -> dict[str, Any]:
    from accounts.services import PREFERENCE_FIELDS

    if preferences is None:
        return {}
    values = {field: getattr(preferences, field) for field in PREFERENCE_FIELDS}
    values["hidden_container_args"] = list(preferences.hidden_container_args or [])
    return values


def _load_profile(call: ApiCall) -> dict[str, Any]:
    from accounts.models import User
    from workspaces.models import Membership

    user = User.objects.select_related("preferences").filter(pk=call.user_id, is_active=True).first()
    if user is None:
        raise InvalidToken("unknown or inactive user")
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace_id=call.workspace_id)
        .first()
    )
    if membership is not None:
        company = {"id": membership.workspace.id.hex, "name": membership.workspace.name}
        # An impersonated token acts with a member's rights at most; it says so.
        effective = min(membership.role, Role.MEMBER) if call.is_impersonated else membership.role
        role = "admin" if effective >= Role.ADMIN else "user"
        workspace_role = Role(effective).label.lower()
    else:
        company = {"id": call.workspace_id, "name": call.identity.get("company_name", "")}
        role, workspace_role = "user" if call.is_impersonated else call.identity.get("role", "user"), None
    return {
        "id": user.id.hex,
        "name": user.username,
        "given_name": user.username,
        "family_name": "",
        "email": user.email,
        "avatar": None,
        "created": _iso(user.date_joined),
        "company": company,
        "role": role,
        "workspace_role": workspace_role,
        "service_account_type": call.identity.get("service_account_type", 0),
        "preferences": preferences_dict(getattr(user, "preferences", None)),
    }


def profile_get(call: ApiCall) -> dict[str, Any]:
    key = (call.user_id, call.workspace_id, call.is_impersonated)
    now = time.monotonic()
    cached = _profiles.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    profile = _load_profile(call)
    with _profiles_lock:
        if len(_profiles) > 10_000:
            _profiles.clear()
        _profiles[key] = (now + PROFILE_TTL, profile)
    return profile


def profile_cache_clear() -> None:
    _profiles.clear()


@endpoint("users.get_current_user")
def get_current_user(call: ApiCall) -> dict:
    return {"user": profile_get(call), "getting_started": None, "settings": {}}


@endpoint("users.get_preferences")
def get_preferences(call: ApiCall) -> dict:
    """The Configuration page's USER PREFERENCES, for API clients."""
    return {"preferences": profile_get(call)["preferences"]}


@endpoint("users.get_vaults", fallback=True)
def get_vaults_placeholder(call: ApiCall) -> dict:
    """No configuration vaults until the vaults app registers the real users.get_vaults."""
    return {"vaults": []}
