"""`ApiCall`: what an endpoint function receives."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from settings_portal.http import client_ip

from . import hooks
from .errors import MissingRequiredFields, ValidationFailed


class ApiCall:
    """One API request.

    - `data`: the JSON body merged with the query parameters (repeated key -> list,
      "true"/"false" -> bool, digit strings -> numbers); unknown fields are the
      endpoint's to ignore. Empty for a call the fallback answers: its body is unread.
    - `headers`: the request headers (case-insensitive), e.g. `X-ClearML-Worker`.
    - `claims`/`token`: the verified JWT claims and the raw token (None on
      endpoints registered with auth=False, until they authenticate).
    - `impersonated_by`/`is_impersonated`: set when the token was obtained by impersonation
      (access/impersonation.py); `membership.role` is then capped at member.
    - `user`, `workspace`, `membership`, `credential`: loaded from the database on
      first access only, so endpoints that need none of them cost no query.
    - `request`: the Django request; `remote_addr` the client's address.
    """

    def __init__(
        self,
        *,
        request: HttpRequest,
        endpoint: str,
        version: str,
        data: dict[str, Any],
        path_version: str | None = None,
    ):
        self.request = request
        self.endpoint = endpoint
        self.version = version
        self.path_version = path_version  # the /vX.Y/ of the path, None without one
        self.data = data
        self.headers = request.headers
        self.claims: dict[str, Any] | None = None
        self.token: str | None = None

    @property
    def remote_addr(self) -> str:
        """The client's address (behind PORTAL_TRUSTED_PROXY_COUNT proxies, from X-Forwarded-For)."""
        return client_ip(self.request)

    @property
    def identity(self) -> dict[str, Any]:
        return (self.claims or {}).get("identity", {})

    @property
    def user_id(self) -> str | None:
        return self.identity.get("user")

    @property
    def workspace_id(self) -> str | None:
        return self.identity.get("company")

    @property
    def credential_id(self) -> int | None:
        return (self.claims or {}).get("credential_id")

    @property
    def impersonated_by(self) -> str | None:
        """The user id of the service account (or administrator) that impersonated the token's
        user, or None for a token of the user's own credentials."""
        return (self.claims or {}).get("impersonated_by")

    @property
    def is_impersonated(self) -> bool:
        return self.impersonated_by is not None

    # Loaded through the identity store the workspaces app registers (hooks.py).
    @cached_property
    def user(self):
        return hooks.identity_store().user(self)

    @cached_property
    def workspace(self):
        return hooks.identity_store().workspace(self)

    @cached_property
    def membership(self):
        """The token user's membership of the token's workspace (None once they left).

        Under impersonation its role is capped at member: an impersonated administrator's
        token acts with a member's rights (never save this instance).
        """
        return hooks.identity_store().membership(self)

    @cached_property
    def credential(self):
        return hooks.identity_store().credential(self)

    def str_field(self, name: str, *, required: bool = False, default: str = "") -> str:
        """DATA[NAME] as text (query strings may have turned "123" into a number)."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise MissingRequiredFields(name, data={"fields": [name]})
            return default
        if isinstance(value, (bool, list, dict)):
            raise ValidationFailed(f"{name} must be a string")
        return str(value)
