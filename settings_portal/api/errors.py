"""Typed API errors: (HTTP code, subcode, message), as the open-source ClearML server names them.

Raise them from an endpoint; the dispatcher turns them into the error envelope with
HTTP status == `result_code`. Never use 429/502/503/509 for an auth failure: the
clients retry those (503 forever); 502/504 are only for an upstream ClearML server that is
down or slow (the gateway), where retrying is what the clients should do.
"""

from typing import Any


class ApiError(Exception):
    """An API failure answered as `{"meta": {result_code, result_subcode, result_msg, error_data}}`."""

    code = 400
    subcode = 0
    message = "Bad request"

    def __init__(self, detail: str = "", *, subcode: int | None = None, data: dict[str, Any] | None = None):
        self.detail = detail
        if subcode is not None:
            self.subcode = subcode
        self.data = data or {}
        super().__init__(self.msg)

    @property
    def msg(self) -> str:
        return f"{self.message}: {self.detail}" if self.detail else self.message


class BadRequest(ApiError):
    code, subcode, message = 400, 0, "Bad request"


class InvalidPath(BadRequest):
    message = "Invalid request path"


class InvalidVersion(BadRequest):
    subcode, message = 2, "Request path has invalid version"


class ImpersonationError(BadRequest):
    subcode, message = 6, "Impersonation error"


class InvalidId(BadRequest):
    subcode, message = 10, "Invalid object id"


class MissingRequiredFields(BadRequest):
    subcode, message = 11, "Missing required fields"


class ValidationFailed(BadRequest):
    subcode, message = 12, "Validation error"


class InvalidUser(BadRequest):
    subcode, message = 300, "Invalid user"


class Unauthorized(ApiError):
    code, subcode, message = 401, 0, "Unauthorized"


class BadAuthType(Unauthorized):
    subcode, message = 10, "Unauthorized (bad authentication header type)"


class NoCredentials(Unauthorized):
    subcode, message = 20, "Unauthorized (missing credentials)"


class BadCredentials(Unauthorized):
    subcode, message = 21, "Unauthorized (malformed credentials)"


class InvalidCredentials(Unauthorized):
    subcode, message = 22, "Unauthorized (invalid credentials)"


class InvalidToken(Unauthorized):
    subcode, message = 30, "Invalid token"


class BlockedToken(Unauthorized):
    subcode, message = 31, "Token is blocked"


class Forbidden(ApiError):
    code, subcode, message = 403, 0, "Forbidden"


class RoleNotAllowed(Forbidden):
    subcode, message = 20, "Forbidden (not allowed for role)"


class NotFound(ApiError):
    code, subcode, message = 404, 0, "Not found"


class MethodNotAllowed(ApiError):
    code, subcode, message = 405, 0, "Method not allowed"


class LengthRequired(ApiError):
    code, subcode, message = 411, 0, "Length required"


class PayloadTooLarge(ApiError):
    code, subcode, message = 413, 0, "Request body too large"


class ServerError(ApiError):
    code, subcode, message = 500, 0, "General server error"


class BadGateway(ApiError):
    """What a reverse proxy answers when the server behind it is down: the clients retry it."""

    code, subcode, message = 502, 0, "Bad Gateway"


class GatewayTimeout(ApiError):
    """What a reverse proxy answers when the server behind it did not answer in time."""

    code, subcode, message = 504, 0, "Gateway Timeout"
