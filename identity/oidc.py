"""OIDC relying party (authorization code flow with state, nonce and PKCE).

Each connection has its own callback URL (mix-up defence: authlib ignores RFC 9207 `iss`).
ID tokens are verified against the connection's JWKS with an algorithm allow-list (unless the
administrator turned "Verify token signature" off: the token then comes straight from the token
endpoint over TLS, OIDC Core 3.1.3.7), and `iss`, `aud` (= client id), `azp`, `nonce` and `exp`
are always checked explicitly. The JWKS is cached; a key id it does not hold makes the portal read
it again, at most once a minute. With a revocation endpoint, the tokens are kept (encrypted) in the
session and revoked at sign-out (RFC 7009).
"""

import base64
import hashlib
import json
import logging
import secrets
import time
from urllib.parse import quote_plus, urlencode

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from settings_portal import crypto

from . import net
from .models import CodeChallenge, IdentityConnection

logger = logging.getLogger(__name__)

ALLOWED_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
SESSION_KEY = "identity_oidc"
TOKENS_SESSION_KEY = "identity_oidc_tokens"
FLOW_TTL = 600  # seconds a started sign-in may take
LEEWAY = 60
JWKS_TTL = 3600  # seconds a fetched key set is used
JWKS_REFRESH_AFTER = 60  # an unknown key id refetches the set at most this often
REVOKE_TIMEOUT = 5


class OIDCError(Exception):
    """The sign-in failed; the message is safe to show."""


def callback_url(connection: IdentityConnection) -> str:
    """Built on the connection's WebApp URL (default PORTAL_BASE_URL), never on the Host header."""
    return connection.base_url + reverse("identity:oidc-callback", args=[connection.pk])


def _client(connection: IdentityConnection, **kwargs) -> OAuth2Session:
    return OAuth2Session(
        client_id=connection.client_id,
        client_secret=connection.client_secret or None,
        token_endpoint_auth_method="client_secret_basic" if connection.client_secret else "none",
        scope=" ".join(connection.scope_list),
        redirect_uri=callback_url(connection),
        **kwargs,
    )


def start(session, connection: IdentityConnection, *, next_url: str = "", test_by=None) -> str:
    """Remember a new flow in SESSION and return the provider's authorization URL."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    params = {"nonce": nonce}
    if connection.code_challenge_method == CodeChallenge.S256:
        params.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    elif connection.code_challenge_method == CodeChallenge.PLAIN:
        # authlib only adds a challenge for S256 (pitfall 1): pass plain ourselves.
        params.update(code_challenge=verifier, code_challenge_method="plain")
    url, _ = _client(connection).create_authorization_url(
        connection.authorization_endpoint, state=state, **params
    )
    flows = {k: v for k, v in session.get(SESSION_KEY, {}).items() if v["started"] > time.time() - FLOW_TTL}
    flows[state] = {
        "connection": str(connection.pk),
        "nonce": nonce,
        "verifier": verifier if connection.code_challenge_method != CodeChallenge.NONE else "",
        "next": next_url,
        "test_by": str(test_by.pk) if test_by is not None else "",
        "started": time.time(),
    }
    session[SESSION_KEY] = dict(list(flows.items())[-5:])  # a few tabs at once, no more
    return url


def take_flow(session, connection: IdentityConnection, state: str) -> dict:
    """Pop the flow STATE names: a state is good once, for the connection it was made for."""
    flows = dict(session.get(SESSION_KEY, {}))
    flow = flows.pop(state, None) if state else None
    session[SESSION_KEY] = flows
    if flow is None or flow["started"] < time.time() - FLOW_TTL:
        raise OIDCError("This sign-in link is not valid any more. Start again.")
    if flow["connection"] != str(connection.pk):
        raise OIDCError("The answer came back to another connection's address.")
    return flow


def _segment(id_token: str, index: int) -> dict:
    """A JWT's header (0) or payload (1), decoded without any check."""
    try:
        part = id_token.split(".")[index]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise OIDCError("The identity token cannot be read.") from exc
    if not isinstance(value, dict):
        raise OIDCError("The identity token cannot be read.")
    return value


def _jwks_cache_key(uri: str) -> str:
    return "identity-jwks:" + hashlib.sha256(uri.encode()).hexdigest()


def key_set(connection: IdentityConnection, kid: str | None) -> KeySet:
    """The provider's keys from the cache; read again when KID is not among them (key rotation),
    but at most once every JWKS_REFRESH_AFTER seconds, never once per sign-in."""
    cache_key = _jwks_cache_key(connection.jwks_uri)
    entry = cache.get(cache_key)
    now = time.time()
    stale = entry is None or (
        kid is not None and kid not in entry["kids"] and abs(now - entry["fetched"]) >= JWKS_REFRESH_AFTER
    )
    if stale:
        try:
            jwks = net.fetch_json(connection.jwks_uri)
            KeySet.import_key_set(jwks)  # only a valid set is cached
        except (net.UnsafeURL, ValueError) as exc:
            raise OIDCError(f"Cannot read the provider's keys: {exc}") from exc
        except Exception as exc:
            raise OIDCError("The provider's key set is not valid.") from exc
        keys = jwks.get("keys") if isinstance(jwks.get("keys"), list) else []
        entry = {"jwks": jwks, "kids": [k.get("kid") for k in keys if isinstance(k, dict)], "fetched": now}
        cache.set(cache_key, entry, JWKS_TTL)
    return KeySet.import_key_set(entry["jwks"])


def _verify_id_token(connection: IdentityConnection, id_token: str, nonce: str) -> dict:
    if not isinstance(id_token, str):
        raise OIDCError("The identity token cannot be read.")
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": connection.issuer},
        aud={"essential": True, "value": connection.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    if connection.verify_signature:
        kid = _segment(id_token, 0).get("kid")
        keys = key_set(connection, kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(id_token, keys, algorithms=ALLOWED_ALGS).claims
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise OIDCError(f"The identity token was refused ({exc.__class__.__name__}).") from exc
    else:
        # Trusted as the token endpoint's own answer over TLS (the form requires https for it).
        claims = _segment(id_token, 1)
    try:
        registry.validate(claims)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise OIDCError(f"The identity token was refused ({exc.__class__.__name__}).") from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if connection.client_id not in audiences:
        raise OIDCError("The identity token was made for another client.")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != connection.client_id:
        raise OIDCError("The identity token was made for another client.")
    return dict(claims)


def _token_request(connection: IdentityConnection, *, code: str, verifier: str) -> dict:
    """The token endpoint's answer to CODE (RFC 6749 4.1.3), sent to the address the SSRF guard
    checked; no redirect is followed."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": callback_url(connection)}
    if verifier:
        form["code_verifier"] = verifier
    headers = _client_auth(connection, form)
    try:
        response = net.request(
            "POST", connection.token_endpoint, headers=headers, body=urlencode(form).encode()
        )
    except net.UnsafeURL as exc:
        raise OIDCError(str(exc)) from exc
    except ValueError as exc:
        raise OIDCError(f"The provider cannot be reached: {exc}") from exc
    try:
        token = response.json()
    except ValueError:
        token = None
    if response.status != 200 or not isinstance(token, dict):
        error = token.get("error") if isinstance(token, dict) else None
        reason = str(error)[:60] if error else f"HTTP {response.status}"
        raise OIDCError(f"The provider refused the authorization code ({reason}).")
    return token


def _client_auth(connection: IdentityConnection, form: dict) -> dict:
    """Headers for a request to the provider's back channel, authenticating the client:
    client_secret_basic with a secret, else the client id in FORM (a public client)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if connection.client_secret:
        headers["Authorization"] = _basic_auth(connection.client_id, connection.client_secret)
    else:
        form["client_id"] = connection.client_id
    return headers


def _basic_auth(client_id: str, secret: str) -> str:
    """client_secret_basic: both parts form-encoded first (RFC 6749 2.3.1)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def finish(connection: IdentityConnection, flow: dict, code: str) -> tuple[dict, dict]:
    """Exchange CODE, verify the ID token; return the provider's claims and its token answer."""
    if not code:
        raise OIDCError("The provider sent no authorization code.")
    token = _token_request(connection, code=code, verifier=flow["verifier"])
    id_token = token.get("id_token")
    if not id_token:
        raise OIDCError("The provider sent no identity token.")
    claims = _verify_id_token(connection, id_token, flow["nonce"])
    if not connection.use_id_token:
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not connection.userinfo_endpoint:
            raise OIDCError("Cannot read the user information: no access token or user info endpoint.")
        try:
            info = net.fetch_json(
                connection.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
            )
        except (net.UnsafeURL, ValueError) as exc:
            raise OIDCError(f"Cannot read the user information: {exc}") from exc
        if info.get("sub") != claims["sub"]:
            raise OIDCError("The user information belongs to another user.")
        claims = {**claims, **info}
    return claims, token


# --- Sign-out -----------------------------------------------------------------------------------


def remember_tokens(session, connection: IdentityConnection, token: dict) -> None:
    """Keep the tokens of this sign-in (encrypted) so sign-out can revoke them, if the connection
    has a revocation endpoint."""
    if not connection.revocation_endpoint:
        session.pop(TOKENS_SESSION_KEY, None)
        return
    kept = {
        hint: crypto.encrypt(token[hint])
        for hint in ("refresh_token", "access_token")
        if isinstance(token.get(hint), str) and token[hint]
    }
    session[TOKENS_SESSION_KEY] = {"connection": str(connection.pk), **kept}


def revoke_tokens(session) -> int:
    """Revoke the tokens the session's sign-in received (RFC 7009): the refresh token first (which
    ends its access tokens at most providers), then the access token. Returns how many the provider
    accepted; failures are logged and never stop the sign-out."""
    stored = session.pop(TOKENS_SESSION_KEY, None)
    if not isinstance(stored, dict):
        return 0
    try:
        connection = IdentityConnection.objects.dangerously_all().filter(pk=stored.get("connection")).first()
    except (ValueError, ValidationError):  # not a connection id
        return 0
    if connection is None or not connection.revocation_endpoint:
        return 0
    revoked = 0
    for hint in ("refresh_token", "access_token"):
        if hint not in stored:
            continue
        try:
            form = {"token": crypto.decrypt(stored[hint]), "token_type_hint": hint}
            headers = _client_auth(connection, form)
            response = net.request(
                "POST",
                connection.revocation_endpoint,
                headers=headers,
                body=urlencode(form).encode(),
                timeout=REVOKE_TIMEOUT,
            )
        except (crypto.DecryptionError, ValueError) as exc:  # UnsafeURL is a ValueError
            logger.warning("Token revocation at %s failed: %s", connection.revocation_endpoint, exc)
            continue
        if response.status == 200:
            revoked += 1
        else:
            logger.warning(
                "Token revocation at %s answered %s", connection.revocation_endpoint, response.status
            )
    return revoked
