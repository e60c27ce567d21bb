"""ClearML API endpoints of the vaults app (registered with settings_portal.api.registry)."""

from __future__ import annotations

import logging

from settings_portal.api import ApiCall, endpoint

from . import parsing, selectors

logger = logging.getLogger(__name__)


def _flag(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        value = value[-1] if value else None
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _types(value) -> set[str] | None:
    if value is None or value == "":
        return None
    values = value if isinstance(value, list) else [value]
    return {str(item).strip().lower() for item in values if item is not None}


@endpoint("users.get_vaults")
def get_vaults(call: ApiCall) -> dict:
    """The vaults that apply to the token's user in the token's workspace, in precedence order.

    `enabled` filters on the vault state (the clients send true); `types` on the vault
    type (only "config" exists). The clients merge the list in order, a later vault
    overriding an earlier one: group vaults first, the user's own vault last (see
    vaults/selectors.py for the order). An impersonated token's user is the task owner,
    so the owner's vaults are served, as a member's (no `Admins` group vault).
    """
    if call.membership is None:  # left the workspace since the token was issued
        return {"vaults": []}
    types = _types(call.data.get("types"))
    if types is not None and "config" not in types:
        return {"vaults": []}
    vaults = selectors.vaults_for_user(
        workspace=call.workspace,
        user=call.user,
        enabled=_flag(call.data.get("enabled")),
        membership=call.membership,  # capped at member under impersonation
    )
    # Each stored vault is checked again within the parsing budget before it is served (the
    # verdict is cached by digest): a vault saved before a check existed, or larger than
    # PORTAL_VAULT_MAX_BYTES allows today, would expand in every client; it is left out.
    served = []
    for vault in vaults:
        if not vault.data:
            continue
        problem = parsing.servable(vault.format, vault.data)
        if problem is not None:
            logger.warning("users.get_vaults: vault %s not served: %s", vault.pk.hex, problem)
            continue
        served.append(selectors.api_vault(vault))
    return {"vaults": served}
