"""The transport's own endpoints: auth.login and debug.ping.

Everything else lives in the apps (`workspaces/api.py`: credentials, `accounts/api.py`:
users.*, `vaults/api.py`, `resources/api.py`), registered from their `AppConfig.ready()`.
"""

from __future__ import annotations

from . import authentication
from .call import ApiCall
from .registry import endpoint


@endpoint("debug.ping", auth=False)
def ping(call: ApiCall) -> dict:
    return {"msg": "ClearML-compatible settings portal"}


@endpoint("auth.login", auth=False)
def login(call: ApiCall) -> dict:
    return {"token": authentication.login(call)}
