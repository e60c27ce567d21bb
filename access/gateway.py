"""Access Rules at the gateway: forwarded ClearML calls checked and rewritten (docs/gateway.md,
"Access Rules at the gateway"). Hooks are registered from AccessConfig.ready() by `register()`."""

from __future__ import annotations


def register() -> None:
    """Register the before/after hooks of gateway.interception."""
