"""auth.login, JWT claims, token checks and revocation at once."""

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from settings_portal.api import tokens
from workspaces.credentials import credential_create, credential_revoke, credentials_revoke_for_member

from .conftest import basic


def claims_of(token):
    """Decode without verifying, as the ClearML SDK does."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_login_with_key_pair_returns_a_jwt_with_the_client_claims(api, member_key, member, workspace):
    credential, secret = member_key
    status, body = api.call("auth.login", auth=basic(credential.access_key, secret))
    assert status == 200
    token = body["data"]["token"]
    claims = claims_of(token)
    assert claims["api_version"] == "2.31"
    assert claims["feature_set"] == "advanced"
    assert claims["server_version"]
    assert 29 * 86400 < claims["exp"] - time.time() <= 30 * 86400
    assert claims["iat"] <= time.time()
    assert claims["identity"] == {
        "user": member.id.hex,
        "company": workspace.id.hex,
        "role": "user",
        "user_name": "member",
        "company_name": "Team",
        "service_account_type": 0,
    }
    assert claims["tenant"] == workspace.id.hex
    assert len(claims["session_id"]) == 32
    assert claims["credential_id"] == credential.pk
    assert tokens.verify(token)["credential_id"] == credential.pk


def test_login_works_with_get_and_a_version_prefix(api, member_key):
    credential, secret = member_key
    status, _ = api.call(
        "auth.login", auth=basic(credential.access_key, secret), method="get", version="2.23"
    )
    assert status == 200


def test_admin_role_in_token(api, workspace, admin_member):
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    assert claims_of(api.login(credential.access_key, secret))["identity"]["role"] == "admin"


def test_expiration_sec_is_honoured_and_clamped(api, member_key):
    credential, secret = member_key
    short = api.login(credential.access_key, secret, query="expiration_sec=3600")
    assert 3590 < claims_of(short)["exp"] - time.time() <= 3600
    huge = api.login(credential.access_key, secret, query="expiration_sec=999999999")
    assert claims_of(huge)["exp"] - time.time() <= 30 * 86400
    tiny = api.login(credential.access_key, secret, query="expiration_sec=1")
    assert claims_of(tiny)["exp"] - time.time() > 30
    status, body = api.call(
        "auth.login", {"expiration_sec": "soon"}, auth=basic(credential.access_key, secret)
    )
    assert (status, body["meta"]["result_subcode"]) == (400, 12)


@pytest.mark.parametrize(
    ("make_auth", "subcode"),
    [
        (lambda key, secret: None, 20),
        (lambda key, secret: basic(key, secret + "x"), 22),
        (lambda key, secret: basic("NOSUCHKEY", secret), 22),
        (lambda key, secret: basic(key, ""), 22),
        (lambda key, secret: "Basic !!!notbase64", 21),
        (lambda key, secret: "Basic " + base64.b64encode(b"no-colon").decode(), 21),
        (lambda key, secret: "Digest abc", 10),
    ],
)
def test_login_failures_are_401_envelopes(api, member_key, make_auth, subcode):
    credential, secret = member_key
    status, body = api.call("auth.login", auth=make_auth(credential.access_key, secret))
    assert status == 401
    assert body["meta"]["result_subcode"] == subcode
    assert body["meta"]["result_msg"].startswith("Unauthorized")
    assert body["data"] == {}


def test_wrong_secret_message_is_what_the_sdk_shows(api, member_key):
    credential, _ = member_key
    _, body = api.call("auth.login", auth=basic(credential.access_key, "wrong"))
    assert (
        body["meta"]["result_msg"]
        == "Unauthorized (invalid credentials): failed to locate provided credentials"
    )


def test_bearer_token_exchange(api, member_key, member_token):
    credential, _ = member_key
    status, body = api.call("auth.login", token=member_token)
    assert status == 200
    new = body["data"]["token"]
    assert new != member_token
    old_claims, new_claims = claims_of(member_token), claims_of(new)
    assert new_claims["identity"] == old_claims["identity"]
    assert new_claims["credential_id"] == credential.pk
    assert new_claims["session_id"] != old_claims["session_id"]


def test_calls_need_a_bearer_token(api, member_key):
    credential, secret = member_key
    assert api.call("users.get_current_user")[1]["meta"]["result_subcode"] == 20
    status, body = api.call("users.get_current_user", auth=basic(credential.access_key, secret))
    assert (status, body["meta"]["result_subcode"]) == (401, 10)
    assert api.call("users.get_current_user", auth="Bearer ")[1]["meta"]["result_subcode"] == 20


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),  # signature
        lambda t: (
            t.split(".")[0]
            + "."
            + base64.urlsafe_b64encode(b'{"exp": 9999999999}').decode().rstrip("=")
            + "."
            + t.split(".")[2]
        ),  # payload swapped
        lambda t: "not-a-jwt",
        lambda t: t + ".extra",
        lambda t: "",
    ],
)
def test_tampered_tokens_are_401_30(api, member_token, mangle):
    mangled = mangle(member_token) or "x.y.z"
    status, body = api.call("users.get_current_user", auth="Bearer " + mangled)
    assert status == 401
    assert body["meta"]["result_subcode"] == 30


def _sign(claims, secret):
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret.encode().ljust(32, b"!")))


def test_token_signed_with_another_key_is_rejected(api, member_token):
    forged = _sign(claims_of(member_token), "attacker-key-attacker-key-attacker-key")
    status, body = api.call("users.get_current_user", token=forged)
    assert (status, body["meta"]["result_subcode"]) == (401, 30)


def test_alg_none_is_rejected(api, member_token):
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    payload = member_token.split(".")[1]
    status, body = api.call("users.get_current_user", token=f"{header}.{payload}.")
    assert (status, body["meta"]["result_subcode"]) == (401, 30)


def test_expired_token_is_401_30(api, member_token):
    claims = claims_of(member_token)
    claims["exp"] = int(time.time()) - 1
    expired = _sign(claims, tokens.signing_secret())
    status, body = api.call("users.get_current_user", token=expired)
    assert (status, body["meta"]["result_subcode"]) == (401, 30)
    assert "expired" in body["meta"]["result_msg"]


def test_token_without_portal_claims_is_rejected(api, member_token):
    claims = claims_of(member_token)
    del claims["credential_id"]
    status, body = api.call("users.get_current_user", token=_sign(claims, tokens.signing_secret()))
    assert (status, body["meta"]["result_subcode"]) == (401, 30)


def test_changing_the_signing_key_invalidates_tokens(api, member_token, settings):
    settings.PORTAL_API_TOKEN_KEY = "a-new-key-that-is-long-enough-0123456789"
    assert api.call("users.get_current_user", token=member_token)[0] == 401


def test_revoked_credential_fails_at_once(
    api, member_key, member, member_token, django_capture_on_commit_callbacks
):
    credential, secret = member_key
    assert api.call("users.get_current_user", token=member_token)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke(credential=credential, actor=member)
    status, body = api.call("users.get_current_user", token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (401, 31)
    # and neither the key pair nor a token exchange gets a new token
    assert (
        api.call("auth.login", auth=basic(credential.access_key, secret))[1]["meta"]["result_subcode"] == 22
    )
    assert api.call("auth.login", token=member_token)[1]["meta"]["result_subcode"] == 31


def test_member_leaving_the_workspace_fails_at_once(
    api, member_key, member, member_token, workspace, django_capture_on_commit_callbacks
):
    from workspaces.models import Membership

    assert api.call("users.get_current_user", token=member_token)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        credentials_revoke_for_member(workspace=workspace, user=member, actor=member)
        Membership.objects.filter(workspace=workspace, user=member).delete()
    status, body = api.call("users.get_current_user", token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (401, 31)


def test_other_credentials_keep_working_after_a_revoke(
    api, workspace, member, member_key, member_token, django_capture_on_commit_callbacks
):
    other, other_secret = credential_create(workspace=workspace, actor=member, label="ci")
    other_token = api.login(other.access_key, other_secret)
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke(credential=member_key[0], actor=member)
    assert api.call("users.get_current_user", token=other_token)[0] == 200


def test_deactivated_user_cannot_log_in(api, member_key, member):
    credential, secret = member_key
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert (
        api.call("auth.login", auth=basic(credential.access_key, secret))[1]["meta"]["result_subcode"] == 22
    )


def test_login_for_a_former_member_is_refused(api, member_key, member, workspace):
    """Belt and braces: even a credential left active cannot log in once the membership is gone."""
    from workspaces.models import Membership

    credential, secret = member_key
    Membership.objects.filter(workspace=workspace, user=member).delete()
    status, body = api.call("auth.login", auth=basic(credential.access_key, secret))
    assert (status, body["meta"]["result_subcode"]) == (401, 22)


def test_members_cannot_impersonate(api, member_key, owner):
    """The impersonation rules themselves are tested in tests/access/test_impersonation.py."""
    credential, secret = member_key
    status, body = api.call(
        "auth.login",
        auth=basic(credential.access_key, secret),
        headers={"X-ClearML-Impersonate-As": owner.id.hex},
    )
    assert status == 403
    assert "impersonat" in body["meta"]["result_msg"]


def test_secrets_are_stored_as_keyed_hashes(member_key):
    credential, secret = member_key
    credential.refresh_from_db()
    assert secret not in credential.secret_hash
    assert len(credential.secret_hash) == 64
    assert len(credential.access_key) == 30
    assert credential.access_key.isalnum() and credential.access_key.upper() == credential.access_key
    assert len(secret) == 67 and secret[0] not in "-_"
