"""The ClearML-compatible API, served under settings.PORTAL_API_URL (`<portal>/api`).

Paths: `/api/{service}.{action}` and `/api/v{X.Y}/{service}.{action}`, GET, POST
or PUT, CSRF-exempt. Every answer, success or failure, is the ClearML envelope
`{"meta": {id, trx, endpoint{name, requested_version, actual_version},
result_code, result_subcode, result_msg, error_stack, error_data}, "data": {...}}`
with HTTP status == result_code (views.py).

This package is the transport only: it imports no feature app. The apps register their
endpoints and the hooks it calls (hooks.py: identity store, impersonation, after-
authentication, call context, fallback) from their `AppConfig.ready()`; a test
(tests/api/test_layering.py) keeps it so.

Adding an endpoint from another app
-----------------------------------
Create `<app>/api.py` and import it from the app's `AppConfig.ready()`
(`from . import api`), so the endpoints exist as soon as Django is set up::

    from settings_portal.api import ApiCall, endpoint, errors

    @endpoint("users.get_vaults")
    def get_vaults(call: ApiCall) -> dict:
        types = call.data.get("types")          # body merged with query params
        if not call.membership:                 # lazy: no query unless used
            raise errors.RoleNotAllowed("not a member")
        return {"vaults": [...]}                 # becomes the envelope's "data"

`ApiCall` carries `data`, `headers`, `claims` (the verified token), `token`,
`remote_addr`, `request`, and, loaded on first access only, `user`, `workspace`,
`membership` and `credential`. Raise an `errors.ApiError` subclass (code,
subcode, message) for a failure; Django's ValidationError becomes 400/12,
PermissionDenied 403/20, Http404 404, anything else 500/0 (logged, no stack).

Options: `@endpoint(name, auth=False)` skips the Bearer check (auth.login and
debug.ping use it); `min_version="2.20"` serves only requests for that API version
or newer (older ones get 404, as on the open-source server; several functions may
serve one name from different versions); `fallback=True` registers a placeholder
that any ordinary registration of the same name replaces, whatever the import
order. `users.get_vaults` is such a placeholder (answers `{"vaults": []}`) until
the vaults app registers its own. `impersonated=False` marks an administrative
endpoint (the credential endpoints): a token obtained by impersonation gets 403
before the function runs. Every other endpoint sees an impersonated token's
`call.membership` with the role capped at member (access/impersonation.py).

Authentication (authentication.py): `auth.login` takes HTTP Basic
access_key:secret_key (the identity store checks the secret against its keyed hash
in constant time: workspaces.credentials.credential_for_key_pair) or a valid Bearer
token (exchange) and returns a JWT (tokens.py) naming the credential it came from.
Every other call needs `Authorization: Bearer <token>`; the token is verified and
the identity store checks its credential against the revocation cache
(workspaces/revocation.py), so revoked credentials fail at once with 401/31; an
impersonated token's grant is checked the same way.
"""

from . import errors, hooks
from .call import ApiCall
from .registry import endpoint

__all__ = ["ApiCall", "endpoint", "errors", "hooks"]

from . import endpoints  # noqa: F401  (the transport's own: auth.login, debug.ping)
