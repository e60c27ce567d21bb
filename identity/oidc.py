"""OIDC relying party (authorization code flow with state, nonce and PKCE) on authlib.

Each connection has its own callback URL (mix-up defence: authlib ignores RFC 9207 `iss`).
ID tokens are verified against the connection's JWKS with an algorithm allow-list, and
`iss`, `aud` (= client id), `azp`, `nonce` and `exp` are checked explicitly: authlib's
defaults do not check `aud`.
"""

import base64
import secrets
import time
from urllib.parse import quote_plus, urlencode

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.urls import reverse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from . import net
from .models import CodeChallenge, IdentityConnection

ALLOWED_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
SESSION_KEY = "identity_oidc"
FLOW_TTL = 600  # seconds a started sign-in may take
LEEWAY = 60


class OIDCError(Exception):
    """The sign-in failed; the message is safe to show."""


def callback_url(connection: IdentityConnection) -> str:
    """Built on PORTAL_BASE_URL, never on the Host header."""
    return settings.PORTAL_BASE_URL + reverse("identity:oidc-callback", args=[connection.pk])


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


def _verify_id_token(connection: IdentityConnection, id_token: str, nonce: str) -> dict:
    try:
        jwks = net.fetch_json(connection.jwks_uri)
        keys = KeySet.import_key_set(jwks)
    except (net.UnsafeURL, ValueError) as exc:
        raise OIDCError(f"Cannot read the provider's keys: {exc}") from exc
    except Exception as exc:
        raise OIDCError("The provider's key set is not valid.") from exc
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": connection.issuer},
        aud={"essential": True, "value": connection.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        token = jwt.decode(id_token, keys, algorithms=ALLOWED_ALGS)
        registry.validate(token.claims)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise OIDCError(f"The identity token was refused ({exc.__class__.__name__}).") from exc
    claims = token.claims
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
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if connection.client_secret:
        headers["Authorization"] = _basic_auth(connection.client_id, connection.client_secret)
    else:
        form["client_id"] = connection.client_id
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


def _basic_auth(client_id: str, secret: str) -> str:
    """client_secret_basic: both parts form-encoded first (RFC 6749 2.3.1)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def finish(connection: IdentityConnection, flow: dict, code: str) -> dict:
    """Exchange CODE, verify the ID token, and return the provider's claims."""
    if not code:
        raise OIDCError("The provider sent no authorization code.")
    token = _token_request(connection, code=code, verifier=flow["verifier"])
    id_token = token.get("id_token")
    if not id_token:
        raise OIDCError("The provider sent no identity token.")
    claims = _verify_id_token(connection, id_token, flow["nonce"])
    if not connection.use_id_token and connection.userinfo_endpoint:
        try:
            info = net.fetch_json(
                connection.userinfo_endpoint, headers={"Authorization": f"Bearer {token['access_token']}"}
            )
        except (net.UnsafeURL, ValueError, KeyError) as exc:
            raise OIDCError(f"Cannot read the user information: {exc}") from exc
        if info.get("sub") != claims["sub"]:
            raise OIDCError("The user information belongs to another user.")
        claims = {**claims, **info}
    return claims
