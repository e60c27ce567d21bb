"""The accounts app in the API: `users.get_current_user`, `users.get_preferences` and the
`users.get_vaults` placeholder (the vaults app registers the real one). `AccountsConfig.ready()`
imports this module, which registers them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from settings_portal.api import ApiCall, endpoint
from settings_portal.api.errors import InvalidToken
from workspaces.models import Membership, Role

from .models import User
from .services import PREFERENCE_FIELDS

# users.get_current_user answers from a per-process snapshot this many seconds old at
# most, so the hot path costs no query; renames and role changes show within it.
PROFILE_TTL = 5.0
_profiles: dict[tuple[str, str, bool], tuple[float, dict[str, Any]]] = {}
_profiles_lock = threading.Lock()


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def preferences_dict(preferences) -> dict[str, Any]:
    if preferences is None:
        return {}
    values = {field: getattr(preferences, field) for field in PREFERENCE_FIELDS}
    values["hidden_container_args"] = list(preferences.hidden_container_args or [])
    return values


def _load_profile(call: ApiCall) -> dict[str, Any]:
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
