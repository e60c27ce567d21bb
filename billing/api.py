"""The billing app in the API: every authenticated call is metered (billing/metering.py),
through the transport's after-authentication hook that `BillingConfig.ready()` registers."""

from __future__ import annotations

from settings_portal.api import ApiCall, hooks

from . import metering


def meter_call(call: ApiCall, endpoint) -> None:
    """Count one API call for the token's workspace (forwarded calls too: ENDPOINT is None)."""
    metering.record(call.workspace_id)


def register_hooks() -> None:
    hooks.add_after_authentication(meter_call)
