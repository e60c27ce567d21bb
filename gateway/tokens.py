"""Upstream tokens: minted by the portal with the upstream's token secret, never given to a client.

The open-source apiserver authorises a Bearer call by the JWT alone (HS256 with its
`secure.auth.token_secret`, an `identity` claim, `exp` honoured), so the portal signs one per
(upstream, upstream user): role `user` for everyone (people, service accounts and impersonated
owners alike), valid PORTAL_UPSTREAM_TOKEN_SECONDS (minutes), cached per process and re-minted
when half of its life is gone. Revoking a portal credential therefore stops forwarded calls at
once: the portal refuses the caller's token before any upstream token is used.
"""

from __future__ import annotations

import time
import uuid
import warnings
from functools import cache

from django.conf import settings
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey

from . import cache as gateway_cache
from .cache import Upstream, UpstreamIdentity

_HEADER = {"alg": "HS256", "typ": "JWT"}
ROLE = "user"


@cache
def _key(secret: str) -> OctKey:
    with warnings.catch_warnings():
        # Short secrets are refused when a link is made; a key the operator chose stays usable.
        warnings.simplefilter("ignore", SecurityWarning)
        return OctKey.import_key(secret.encode())


def mint(upstream: Upstream, who: UpstreamIdentity, *, lifetime: int | None = None) -> str:
    """A new upstream token for WHO (the identity claim as the server's own tokens carry it)."""
    now = int(time.time())
    lifetime = lifetime or settings.PORTAL_UPSTREAM_TOKEN_SECONDS
    claims = {
        "identity": {
            "user": who.upstream_id,
            "company": upstream.company_id,
            "role": ROLE,
            "user_name": who.name,
            "company_name": upstream.company_name,
        },
        "iat": now,
        "exp": now + lifetime,
        "session_id": uuid.uuid4().hex,
        "env": "portal-gateway",
        "auth_type": "Bearer",
        "api_version": upstream.api_version or "2.31",
        "server_version": upstream.server_version or "",
        "server_build": "",
        "feature_set": "basic",
    }
    return jwt.encode(_HEADER, claims, _key(upstream.token_secret))


def upstream_token(upstream: Upstream, who: UpstreamIdentity) -> str:
    """The cached token for WHO at UPSTREAM, minted when missing or half-expired."""
    key = (upstream.link_id, who.upstream_id, who.name)
    found = gateway_cache.token(key)
    if found is not None:
        return found
    lifetime = settings.PORTAL_UPSTREAM_TOKEN_SECONDS
    token = mint(upstream, who, lifetime=lifetime)
    gateway_cache.remember_token(key, token, fresh_for=lifetime / 2)
    return token


def verify(secret: str, token: str) -> dict:
    """The claims of TOKEN if SECRET signed it (for the link check); raises joserfc errors."""
    return jwt.decode(token, _key(secret), algorithms=["HS256"]).claims
