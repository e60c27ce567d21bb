"""JWT (HS256) tokens the ClearML clients accept, signed and verified with joserfc.

The clients decode the token without verifying it and read `exp`, `api_version`,
`server_version`, `feature_set`, `identity.*` and `tenant` (docs/clearml-clients.md). The
portal adds `credential_id`: the credential the token came from, so revoking the
credential blocks its tokens at once (workspaces.revocation). An impersonated token
also carries `impersonated_by` (the caller's user id) and `grant_id` (its
access.models.ImpersonationGrant, revocable the same way).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from functools import cache
from typing import Any

from django.conf import settings
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from .errors import InvalidToken, ValidationFailed

API_VERSION = "2.31"
SERVER_VERSION = "2.0.0"
FEATURE_SET = "advanced"
DEFAULT_EXPIRATION_SEC = 30 * 24 * 3600
MIN_EXPIRATION_SEC = 60
MAX_EXPIRATION_SEC = DEFAULT_EXPIRATION_SEC
_HEADER = {"alg": "HS256", "typ": "JWT"}
_ALGORITHMS = ["HS256"]

# Service-account types in `identity.service_account_type`; people are 0. The agent
# needs >= 2 (or an admin role) to impersonate task owners.
SERVICE_ACCOUNT_NONE = 0


def signing_secret() -> str:
    """PORTAL_API_TOKEN_KEY if set, else derived from SECRET_KEY (rotating either logs every client out)."""
    return (
        getattr(settings, "PORTAL_API_TOKEN_KEY", "")
        or hashlib.sha256(f"api-token:{settings.SECRET_KEY}".encode()).hexdigest()
    )


@cache
def _key(secret: str) -> OctKey:
    return OctKey.import_key(secret.encode())


def clamp_expiration(requested: Any) -> int:
    """The lifetime to give a token when the client asked for REQUESTED seconds (None: the default)."""
    if requested in (None, ""):
        return DEFAULT_EXPIRATION_SEC
    try:
        seconds = int(requested)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise ValidationFailed("expiration_sec must be a number of seconds") from None
    return max(MIN_EXPIRATION_SEC, min(seconds, MAX_EXPIRATION_SEC))


def issue(
    *,
    user_id: str,
    user_name: str,
    company_id: str,
    company_name: str,
    role: str,
    credential_id: int,
    expiration_sec: int = DEFAULT_EXPIRATION_SEC,
    service_account_type: int = SERVICE_ACCOUNT_NONE,
    extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iat": now,
        "exp": now + expiration_sec,
        "env": "portal",
        "api_version": API_VERSION,
        "server_version": SERVER_VERSION,
        "feature_set": FEATURE_SET,
        "identity": {
            "user": user_id,
            "company": company_id,
            "role": role,
            "user_name": user_name,
            "company_name": company_name,
            "service_account_type": service_account_type,
        },
        "tenant": company_id,
        "session_id": uuid.uuid4().hex,
        "credential_id": credential_id,
        **(extra or {}),
    }
    return jwt.encode(_HEADER, claims, _key(signing_secret()))


def verify(token: str) -> dict[str, Any]:
    """The claims of TOKEN if our signature is valid and it has not expired; else InvalidToken (401/30)."""
    try:
        claims = jwt.decode(token, _key(signing_secret()), algorithms=_ALGORITHMS).claims
    except JoseError as exc:
        raise InvalidToken(f"invalid jwt token ({exc.error})") from None
    except (ValueError, TypeError, UnicodeError):
        raise InvalidToken("invalid jwt token (malformed)") from None
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= time.time():
        raise InvalidToken("token expired" if isinstance(exp, int) else "token has no expiry")
    identity = claims.get("identity")
    if (
        not isinstance(identity, dict)
        or not isinstance(identity.get("user"), str)
        or not isinstance(identity.get("company"), str)
        or not isinstance(claims.get("credential_id"), int)
    ):
        raise InvalidToken("token lacks the portal's claims")
    if "impersonated_by" in claims and (
        not isinstance(claims["impersonated_by"], str) or not isinstance(claims.get("grant_id"), int)
    ):
        # Impersonated tokens stand on a revocable grant; one without it cannot be stopped.
        raise InvalidToken("impersonated token without its grant: log in again")
    return claims
