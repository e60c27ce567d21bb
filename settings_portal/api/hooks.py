"""What the transport asks of the feature apps, without importing any of them.

The API transport (this package) knows the protocol: envelopes, tokens, the dispatcher,
Basic/Bearer parsing. Everything that needs the portal's data is a hook a feature app
registers from its `AppConfig.ready()`:

- `set_identity_store(store)` (workspaces): loads the user, workspace, membership and
  credential a token names, checks a key pair, refuses revoked tokens, records last use.
- `set_impersonation_handler(handler)` (access): `X-ClearML-Impersonate-As` on auth.login,
  the Bearer refresh of an impersonated token, and `identity.service_account_type`.
- `add_after_authentication(func)` (billing: metering): runs after every authenticated call
  was authenticated, before the endpoint (or the fallback) runs.
- `add_call_context(func)` (workspaces: audit rows of impersonated calls): a context manager
  around the endpoint function.
- `set_fallback(fallback)` (gateway): answers names no endpoint is registered for (the
  ClearML calls forwarded to an upstream apiserver); without one they are 404.
- `add_user_alias(func)` (gateway): maps another id of a user (an upstream user id) to the
  portal's, for X-ClearML-Impersonate-As.

Tests replace a hook with `replaced(...)` and get the previous one back afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.http import HttpResponse

if TYPE_CHECKING:
    from .call import ApiCall
    from .registry import Endpoint


@dataclass(frozen=True)
class Principal:
    """Who a key pair (or a Bearer token being exchanged) stands for, to issue a token.

    `credential` has `.pk`; `user` has `.id` (UUID) and `.username`; `workspace` has `.id`
    and `.name` (None when ROLE is None); ROLE is "admin" or "user" in the workspace of
    the credential, None when the user is no longer a member.
    """

    credential: Any
    user: Any
    workspace: Any | None
    role: str | None


class IdentityStore(Protocol):
    """The portal's users, workspaces and credentials, as the transport needs them."""

    def user(self, call: ApiCall) -> Any:
        """The active user the token names (raise errors.InvalidToken if none)."""

    def workspace(self, call: ApiCall) -> Any:
        """The workspace the token names (raise errors.InvalidToken if none)."""

    def membership(self, call: ApiCall) -> Any | None:
        """The token user's membership of the token's workspace (None once they left); under
        impersonation with the role capped at member."""

    def credential(self, call: ApiCall) -> Any:
        """The credential the token came from (raise errors.InvalidToken if none)."""

    def key_pair(self, access_key: str, secret_key: str) -> Principal:
        """The active credential of a Basic key pair (raise errors.InvalidCredentials)."""

    def principal(self, call: ApiCall) -> Principal:
        """Who an authenticated (not impersonated) call's token stands for, re-read for a refresh."""

    def check_token(self, claims: dict[str, Any]) -> None:
        """Raise errors.BlockedToken when the credential (or impersonation grant) the token
        stands on is revoked; called on every authenticated call, so it must be cheap."""

    def credential_used(self, credential_id: int, used_from: str) -> None:
        """Record that CREDENTIAL_ID was used now, from USED_FROM (throttled by the caller)."""


class ImpersonationHandler(Protocol):
    def service_account_type(self, user: Any, *, impersonated: bool = False) -> int:
        """`identity.service_account_type` of USER's tokens (0 for people)."""

    def impersonate(
        self, call: ApiCall, *, principal: Principal, target: str, tenant: str | None, expiration_sec: int
    ) -> str:
        """auth.login with X-ClearML-Impersonate-As: a token of the user TARGET names (the header,
        after the user aliases), in the workspace TENANT names if sent (or raise an ApiError)."""

    def refresh(self, call: ApiCall, *, expiration_sec: int) -> str:
        """auth.login with an impersonated Bearer token: a fresh impersonated token (or raise)."""


class Fallback(Protocol):
    """Answers API names that no endpoint is registered for (the gateway's forwarder)."""

    def active(self) -> bool:
        """Whether any call could be answered (cheap; False: unknown names are 404 at once,
        without authentication, as in standalone mode)."""

    def handles(self, call: ApiCall) -> bool:
        """Whether this authenticated call's workspace is served by the fallback (cheap, no query)."""

    def respond(self, call: ApiCall) -> HttpResponse:
        """The response for CALL (the request body is still unread)."""


AfterAuthentication = Callable[["ApiCall", "Endpoint | None"], None]
UserAlias = Callable[[str, str], "str | None"]
CallContext = Callable[["ApiCall"], AbstractContextManager | None]


class _Hooks:
    def __init__(self) -> None:
        self.identity_store: IdentityStore | None = None
        self.impersonation: ImpersonationHandler | None = None
        self.after_authentication: list[AfterAuthentication] = []
        self.call_contexts: list[CallContext] = []
        self.fallback: Fallback | None = None
        self.user_aliases: list[UserAlias] = []


_hooks = _Hooks()


class HookMissing(RuntimeError):
    """A hook the call needs was never registered (an app is missing from INSTALLED_APPS)."""


def set_identity_store(store: IdentityStore) -> None:
    _hooks.identity_store = store


def identity_store() -> IdentityStore:
    if _hooks.identity_store is None:
        raise HookMissing("no identity store registered (the workspaces app registers it)")
    return _hooks.identity_store


def set_impersonation_handler(handler: ImpersonationHandler) -> None:
    _hooks.impersonation = handler


def impersonation_handler() -> ImpersonationHandler | None:
    return _hooks.impersonation


def add_after_authentication(func: AfterAuthentication) -> None:
    """FUNC(call, endpoint) runs after each authenticated call was authenticated (ENDPOINT is
    None for a call answered by the fallback). It may raise an ApiError to refuse the call."""
    if func not in _hooks.after_authentication:
        _hooks.after_authentication.append(func)


def run_after_authentication(call: ApiCall, endpoint: Endpoint | None) -> None:
    for func in _hooks.after_authentication:
        func(call, endpoint)


def add_call_context(func: CallContext) -> None:
    """FUNC(call) returns a context manager the endpoint function runs in, or None."""
    if func not in _hooks.call_contexts:
        _hooks.call_contexts.append(func)


@contextmanager
def call_context(call: ApiCall) -> Iterator[None]:
    with ExitStack() as stack:
        for func in _hooks.call_contexts:
            manager = func(call)
            if manager is not None:
                stack.enter_context(manager)
        yield


def add_user_alias(func: UserAlias) -> None:
    """FUNC(workspace_id, value) names the portal user (hex id) another id of the workspace stands
    for, or None: the gateway maps the upstream user ids that clearml-agent sends in
    X-ClearML-Impersonate-As (a task's owner as the upstream knows it) to portal users."""
    if func not in _hooks.user_aliases:
        _hooks.user_aliases.append(func)


def resolve_user_alias(workspace_id: str, value: str) -> str:
    for func in _hooks.user_aliases:
        found = func(workspace_id, value)
        if found:
            return found
    return value


def set_fallback(fallback: Fallback | None) -> None:
    _hooks.fallback = fallback


def fallback() -> Fallback | None:
    return _hooks.fallback


@contextmanager
def replaced(**values: Any) -> Iterator[None]:
    """Tests: swap hooks inside the block (e.g. `replaced(fallback=...)`), restored after."""
    saved = {name: getattr(_hooks, name) for name in values}
    for name, value in values.items():
        if not hasattr(_hooks, name):
            raise AttributeError(name)
        setattr(_hooks, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(_hooks, name, value)
