"""A development instance (DEBUG, no SECRET_KEY given: what the tests run as) signs API tokens
with a key of its own. A token signed with the key derived from the dev SECRET_KEY that used
to be in the repository (anyone could mint admin tokens with it) is refused."""

import hashlib

from joserfc import jwt
from joserfc.jwk import OctKey

from settings_portal.api.tokens import signing_secret

PUBLIC_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"


def _resigned(token: str, secret: str) -> str:
    claims = jwt.decode(token, OctKey.import_key(signing_secret().encode())).claims
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, OctKey.import_key(secret.encode()))


def test_a_token_signed_with_the_public_dev_key_is_refused(api, member_token):
    status, _ = api.call("users.get_current_user", token=member_token)
    assert status == 200  # the real token works ...
    public_key = hashlib.sha256(f"api-token:{PUBLIC_DEV_SECRET_KEY}".encode()).hexdigest()
    status, body = api.call("users.get_current_user", token=_resigned(member_token, public_key))
    assert status == 401  # ... the same claims signed with the repository's key do not
    assert "invalid jwt token" in body["meta"]["result_msg"]
