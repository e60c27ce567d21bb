"""OIDC sign-in against a real OpenID provider (django-oauth-toolkit in its own process)."""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
import requests
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import RSAKey

from access.models import UserGroup
from accounts.models import User
from identity import oidc
from identity.forms import new_connection_token
from identity.models import ExternalIdentity, IdentityConnection
from settings_portal import crypto
from settings_portal.crypto import keyed_hash
from workspaces.models import AuditEvent, Invitation, Membership, Role

from .conftest import oidc_connection
from .provider import CONN_B

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def provider(oidc_provider, oidc_settings):
    return oidc_provider


def start(client, conn, next_url=None):
    params = {"next": next_url} if next_url else {}
    response = client.get(reverse("identity:oidc-start", args=[conn.pk]), params)
    assert response.status_code == 302
    return response["Location"]


def sign_in(client, provider, browser, conn, next_url=None):
    return client.get(provider.authorize(browser, start(client, conn, next_url)))


def signed_in_user(client):
    return client.get(reverse("accounts:profile")).wsgi_request.user


def test_authorization_request_has_state_nonce_and_s256(client, workspace, provider):
    conn = oidc_connection(workspace, provider)
    url = start(client, conn)
    assert url.startswith(f"{provider.issuer}/authorize/")
    for part in ("state=", "nonce=", "code_challenge=", "code_challenge_method=S256", "redirect_uri="):
        assert part in url
    assert f"sso%2F{conn.pk}%2Fcallback" in url


def test_jit_user_joins_workspace_and_groups_sync_both_ways(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True, sync_groups=True)
    ml = UserGroup.objects.create(workspace=workspace, name="ml")
    ops = UserGroup.objects.create(workspace=workspace, name="ops")
    provider.user("alice", "alice@corp.example", ["ml", "ops", "not-in-portal"])

    response = sign_in(client, provider, provider.browser("alice"), conn)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile")
    user = User.objects.get(email="alice@corp.example")
    assert signed_in_user(client) == user
    assert Membership.objects.filter(workspace=workspace, user=user).exists()
    assert set(user.user_groups.values_list("name", flat=True)) == {"ml", "ops"}
    identity = ExternalIdentity.objects.get(user=user)
    assert identity.connection == conn and identity.subject
    assert AuditEvent.objects.filter(action="identity.sign_in", workspace=workspace).count() == 1

    # Removed from ops at the provider: removed in the portal at the next sign-in.
    provider.user("alice", "alice@corp.example", ["ml"])
    client.logout()
    assert sign_in(client, provider, provider.browser("alice"), conn).status_code == 302
    assert list(user.user_groups.values_list("name", flat=True)) == ["ml"]
    assert ml.memberships.filter(user=user).exists() and not ops.memberships.filter(user=user).exists()
    assert User.objects.filter(email="alice@corp.example").count() == 1


def test_userinfo_endpoint_when_not_using_id_token(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True, use_id_token=False)
    provider.user("uinfo", "uinfo@corp.example")
    assert sign_in(client, provider, provider.browser("uinfo"), conn).status_code == 302
    assert signed_in_user(client).email == "uinfo@corp.example"


def test_plain_code_challenge(client, workspace, provider):
    """authlib only adds a challenge for S256 (pitfall 1): Plain is sent by the portal itself."""
    conn = oidc_connection(workspace, provider, create_users=True, code_challenge_method="plain")
    provider.user("plain", "plain@corp.example")
    location = start(client, conn)
    assert "code_challenge_method=plain" in location
    assert client.get(provider.authorize(provider.browser("plain"), location)).status_code == 302
    assert signed_in_user(client).email == "plain@corp.example"


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/w/team/settings/", "/w/team/settings/"),
        ("https://evil.example/steal", None),
        ("//evil.example/steal", None),
        ("/\\evil.example", None),
        ("javascript:alert(1)", None),
    ],
)
def test_next_is_local_only(client, workspace, provider, next_url, expected):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("nexter", "nexter@corp.example")
    response = sign_in(client, provider, provider.browser("nexter"), conn, next_url)
    assert response.status_code == 302
    assert response["Location"] == (expected or reverse("accounts:profile"))


def test_unverified_email_never_links_or_signs_in(client, workspace, provider, member):
    conn = oidc_connection(
        workspace, provider, create_users=True, link_by_verified_email=True, require_verified_email=False
    )
    provider.user("mallory", member.email, ["unverified"])
    response = sign_in(client, provider, provider.browser("mallory"), conn)
    assert response.status_code == 403
    assert "already exists" in response.content.decode()
    assert not signed_in_user(client).is_authenticated
    assert not ExternalIdentity.objects.exists()


def test_unverified_email_refused_when_verification_required(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("unv", "unv@corp.example", ["unverified"])
    response = sign_in(client, provider, provider.browser("unv"), conn)
    assert response.status_code == 403 and "not verified" in response.content.decode()
    assert not User.objects.filter(email="unv@corp.example").exists()


def test_verified_email_links_only_when_the_connection_allows(client, workspace, provider, member):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("bob", member.email)
    assert sign_in(client, provider, provider.browser("bob"), conn).status_code == 403
    assert not signed_in_user(client).is_authenticated

    IdentityConnection.objects.filter(pk=conn.pk).update(link_by_verified_email=True)
    response = sign_in(client, provider, provider.browser("bob"), conn)
    assert response.status_code == 302
    assert signed_in_user(client) == member
    assert ExternalIdentity.objects.get(connection=conn).user == member


def test_verified_email_never_links_outside_the_workspace_or_a_site_operator(
    client, workspace, provider, outsider, admin_member
):
    """A workspace's provider cannot take over accounts beyond that workspace's members."""
    conn = oidc_connection(workspace, provider, create_users=True, link_by_verified_email=True)
    provider.user("eve", outsider.email)
    assert sign_in(client, provider, provider.browser("eve"), conn).status_code == 403
    User.objects.filter(pk=admin_member.pk).update(is_staff=True)
    provider.user("eve2", admin_member.email)
    assert sign_in(client, provider, provider.browser("eve2"), conn).status_code == 403
    assert not signed_in_user(client).is_authenticated
    assert not ExternalIdentity.objects.exists()


def test_same_subject_at_two_connections_is_two_identities(client, workspace, provider):
    conn_a = oidc_connection(workspace, provider, create_users=True)
    conn_b = oidc_connection(
        workspace, provider, pk=CONN_B, name="Provider B", client_id="portal-b", secret="secret-b"
    )
    provider.user("carol", "carol@corp.example")
    assert sign_in(client, provider, provider.browser("carol"), conn_a).status_code == 302
    client.logout()
    # Same subject at B: no identity there, the email exists, linking is off -> refused.
    assert sign_in(client, provider, provider.browser("carol"), conn_b).status_code == 403
    assert ExternalIdentity.objects.filter(connection=conn_b).count() == 0


def test_existing_link_without_create_users(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=False)
    provider.user("dave", "dave@corp.example")
    response = sign_in(client, provider, provider.browser("dave"), conn)
    assert response.status_code == 403 and "does not create users" in response.content.decode()


def test_disabled_connection_cannot_start_or_finish(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("erin", "erin@corp.example")
    location = start(client, conn)
    IdentityConnection.objects.filter(pk=conn.pk).update(enabled=False)
    assert client.get(reverse("identity:oidc-start", args=[conn.pk])).status_code == 404
    response = client.get(provider.authorize(provider.browser("erin"), location))
    assert response.status_code == 400
    assert not User.objects.filter(email="erin@corp.example").exists()


# --- Attacks ------------------------------------------------------------------------------------


def test_state_mismatch_and_callback_replay(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("frank", "frank@corp.example")
    callback = provider.authorize(provider.browser("frank"), start(client, conn))
    forged = callback.replace("state=", "state=x")
    assert client.get(forged).status_code == 400
    assert client.get(callback).status_code == 302  # the real one still works once
    client.logout()
    assert client.get(callback).status_code == 400  # replayed


def test_callback_of_another_connection_is_refused(client, workspace, provider):
    """Mix-up: a state made for A coming back on B's callback."""
    conn_a = oidc_connection(workspace, provider, create_users=True)
    oidc_connection(workspace, provider, pk=CONN_B, name="B", client_id="portal-b", secret="secret-b")
    provider.user("gina", "gina@corp.example")
    callback = provider.authorize(provider.browser("gina"), start(client, conn_a))
    response = client.get(callback.replace(str(conn_a.pk), str(CONN_B)))
    assert response.status_code == 400 and "another connection" in response.content.decode()


def _tamper_flow(client, **changes):
    session = client.session
    flows = session[oidc.SESSION_KEY]
    for flow in flows.values():
        flow.update(changes)
    session[oidc.SESSION_KEY] = flows
    session.save()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nonce": "not-the-nonce"}, "identity token was refused"),
        ({"verifier": "x" * 64}, "refused the authorization code"),
    ],
)
def test_nonce_mismatch_and_wrong_pkce_verifier(client, workspace, provider, changes, message):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("hank", "hank@corp.example")
    callback = provider.authorize(provider.browser("hank"), start(client, conn))
    _tamper_flow(client, **changes)
    response = client.get(callback)
    assert response.status_code == 400 and message in response.content.decode()
    assert not User.objects.filter(email="hank@corp.example").exists()


def test_authorization_code_used_twice(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("ivan", "ivan@corp.example")
    browser = provider.browser("ivan")
    first = provider.authorize(browser, start(client, conn))
    assert client.get(first).status_code == 302
    client.logout()
    second = provider.authorize(browser, start(client, conn))
    new_state = second.split("state=")[1].split("&")[0]
    old_code = first.split("code=")[1].split("&")[0]
    reused = second.split("?")[0] + f"?code={old_code}&state={new_state}"
    response = client.get(reused)
    assert response.status_code == 400 and "refused the authorization code" in response.content.decode()


def test_provider_error_is_shown(client, workspace, provider):
    conn = oidc_connection(workspace, provider)
    location = start(client, conn)
    state = location.split("state=")[1].split("&")[0]
    response = client.get(
        reverse("identity:oidc-callback", args=[conn.pk]), {"state": state, "error": "access_denied"}
    )
    assert response.status_code == 400 and "access_denied" in response.content.decode()


# --- ID token checks with tokens signed by the provider's own key -------------------------------


def _claims(provider, **overrides):
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": "portal-a",
        "sub": "1",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(provider, claims, alg="RS256", key=None):
    key = key or RSAKey.import_key(provider.key_pem)
    jwks = oidc.net.fetch_json(f"{provider.issuer}/.well-known/jwks.json")
    header = {"alg": alg, "kid": jwks["keys"][0]["kid"]}
    return jwt.encode(header, claims, key, algorithms=[alg])


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "portal-b"},
        {"aud": "portal-b", "azp": "portal-a"},
        {"aud": ["portal-b", "portal-a"], "azp": "portal-b"},
        {"iss": "http://127.0.0.1:1/o"},
        {"exp": int(time.time()) - 3600},
        {"nonce": "other"},
        {"nonce": None},
    ],
    ids=["aud", "aud-with-our-azp", "azp", "iss", "expired", "nonce", "no-nonce"],
)
def test_id_token_claims_are_checked(workspace, provider, overrides):
    conn = oidc_connection(workspace, provider)
    assert oidc._verify_id_token(conn, _signed(provider, _claims(provider)), "n-1")["sub"] == "1"
    with pytest.raises(oidc.OIDCError):
        oidc._verify_id_token(conn, _signed(provider, _claims(provider, **overrides)), "n-1")


def test_alg_none_hs256_with_public_key_and_unknown_key_are_refused(workspace, provider):
    conn = oidc_connection(workspace, provider)
    claims = _claims(provider)

    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none'})}.{b64(claims)}."
    public_pem = RSAKey.import_key(provider.key_pem).as_pem(private=False)
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    hs256 = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    stranger = _signed(provider, claims, key=RSAKey.generate_key(2048))
    for token in (unsigned, hs256, stranger):
        with pytest.raises(oidc.OIDCError):
            oidc._verify_id_token(conn, token, "n-1")


# --- Admin: discovery and Test Provider ---------------------------------------------------------


def test_discovery_fills_the_endpoints(client, workspace, admin_member, provider):
    client.force_login(admin_member)
    data = {
        "protocol": "oidc",
        "save": "1",
        "connection_id": new_connection_token(),
        "name": "Discovered",
        "provider": "keycloak",
        "issuer": provider.issuer,
        "client_id": "portal-a",
        "client_secret": "secret-a",
        "use_id_token": "on",
        "code_challenge_method": "S256",
        "scopes": "openid,email,profile",
        "claim_user_id": "sub",
        "claim_email": "email",
        "claim_name": "name",
    }
    response = client.post(reverse("identity:connection-create", args=[workspace.slug]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    conn = IdentityConnection.objects.get(name="Discovered")
    assert conn.authorization_endpoint.startswith(provider.issuer) and conn.jwks_uri.startswith(
        provider.issuer
    )
    assert conn.token_endpoint.startswith(provider.issuer)


def test_test_provider_shows_mapping_and_group_changes_without_signing_in(
    client, workspace, admin_member, provider
):
    conn = oidc_connection(workspace, provider, enabled=False, create_users=True, sync_groups=True)
    UserGroup.objects.create(workspace=workspace, name="ml")
    provider.user("tess", "tess@corp.example", ["ml", "elsewhere"], first="Tess", last="Ter")
    client.force_login(admin_member)
    location = client.get(reverse("identity:connection-test", args=[workspace.slug, conn.pk]))["Location"]
    response = client.get(provider.authorize(provider.browser("tess"), location))
    html = response.content.decode()
    assert response.status_code == 200
    assert "tess@corp.example" in html and "Tess Ter" in html
    assert "Create the user tess@corp.example" in html and "Add to group ml" in html and "elsewhere" in html
    assert not User.objects.filter(email="tess@corp.example").exists()
    assert signed_in_user(client) == admin_member


def test_test_result_only_for_the_admin_who_started_it(client, workspace, admin_member, member, provider):
    """A flow marked as an admin's test shows its result to that admin only."""
    conn = oidc_connection(workspace, provider)
    provider.user("tina", "tina@corp.example")
    client.force_login(member)
    callback = provider.authorize(provider.browser("tina"), start(client, conn))
    _tamper_flow(client, test_by=str(admin_member.pk))
    response = client.get(callback)
    assert response.status_code == 403
    assert "tina@corp.example" not in response.content.decode()


def test_unknown_connection_callback_is_404(client):
    assert client.get(reverse("identity:oidc-callback", args=[uuid.uuid4()])).status_code == 404


def test_sign_in_button_keeps_next(client, workspace, provider):
    oidc_connection(workspace, provider)
    html = client.get(
        reverse("accounts:login"), {"next": "/w/team/settings/", "workspace": workspace.slug}
    ).content.decode()
    assert "Sign in with Provider A" in html and "next=/w/team/settings/" in html


def test_unregistered_redirect_uri_is_refused_by_the_provider(client, workspace, provider):
    """A connection whose callback the provider does not know never gets a code back."""
    conn = oidc_connection(workspace, provider, pk=uuid.uuid4(), name="Unregistered")
    provider.user("ursula", "ursula@corp.example")
    response = provider.browser("ursula").get(start(client, conn), allow_redirects=False, timeout=10)
    assert response.status_code != 302 or not response.headers["Location"].startswith("http://testserver")
    assert "code=" not in response.headers.get("Location", "")


# --- Options obeyed on the sign-in path -----------------------------------------------------------


@pytest.mark.parametrize("use_id_token", [True, False])
def test_identity_token_or_user_info_endpoint(client, workspace, admin_member, provider, use_id_token):
    """Test Provider's raw claims show which source was used; with the identity token, the user
    info endpoint is never called (it points nowhere here)."""
    userinfo = f"{provider.issuer}/userinfo/" if not use_id_token else "http://127.0.0.1:9/nowhere"
    conn = oidc_connection(
        workspace, provider, create_users=True, use_id_token=use_id_token, userinfo_endpoint=userinfo
    )
    provider.user("uwe", "uwe@corp.example")
    client.force_login(admin_member)
    location = client.get(reverse("identity:connection-test", args=[workspace.slug, conn.pk]))["Location"]
    html = client.get(provider.authorize(provider.browser("uwe"), location)).content.decode()
    assert "uwe@corp.example" in html and "test-error" not in html
    assert ("from-userinfo" in html) is not use_id_token


def test_code_challenge_none_and_additional_scopes_in_the_request(client, workspace, provider):
    conn = oidc_connection(
        workspace, provider, code_challenge_method="none", additional_scopes="groups, offline"
    )
    location = start(client, conn)
    assert "code_challenge" not in location
    scope = parse_qs(urlsplit(location).query)["scope"][0].split()
    assert scope == ["openid", "email", "profile", "groups", "offline"]


def test_name_claim_becomes_the_display_name(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("nora", "nora@corp.example", first="Nora", last="Example")
    assert sign_in(client, provider, provider.browser("nora"), conn).status_code == 302
    assert User.objects.get(email="nora@corp.example").username == "Nora Example"


def _invite(workspace, email, role):
    return Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        token_hash=keyed_hash(email),
        expires_at=timezone.now() + timedelta(days=1),
    )


def test_invited_email_signs_in_without_create_users(client, workspace, provider):
    """Seed: without "Create new users", only existing users or users invited by email sign in."""
    conn = oidc_connection(workspace, provider, create_users=False)
    invitation = _invite(workspace, "ivy@corp.example", Role.ADMIN)
    provider.user("ivy", "ivy@corp.example")
    assert sign_in(client, provider, provider.browser("ivy"), conn).status_code == 302
    user = User.objects.get(email="ivy@corp.example")
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.ADMIN
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    # Someone else, or an unverified address, is not let in by it.
    _invite(workspace, "una@corp.example", Role.MEMBER)
    provider.user("una", "una@corp.example", ["unverified"])
    client.logout()
    assert sign_in(client, provider, provider.browser("una"), conn).status_code == 403
    assert not User.objects.filter(email="una@corp.example").exists()


def _session_access_token(client) -> str:
    return crypto.decrypt(client.session[oidc.TOKENS_SESSION_KEY]["access_token"])


def _userinfo_status(provider, token: str) -> int:
    return requests.get(
        f"{provider.issuer}/userinfo/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def test_sign_out_revokes_the_tokens_at_the_revocation_endpoint(client, workspace, provider):
    conn = oidc_connection(
        workspace, provider, create_users=True, revocation_endpoint=f"{provider.issuer}/revoke_token/"
    )
    provider.user("rita", "rita@corp.example")
    assert sign_in(client, provider, provider.browser("rita"), conn).status_code == 302
    stored = client.session[oidc.TOKENS_SESSION_KEY]
    token = _session_access_token(client)
    assert token not in str(stored)  # kept encrypted in the session
    assert _userinfo_status(provider, token) == 200
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert _userinfo_status(provider, token) == 401


def test_without_a_revocation_endpoint_tokens_are_not_kept(client, workspace, provider):
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("sven", "sven@corp.example")
    assert sign_in(client, provider, provider.browser("sven"), conn).status_code == 302
    assert oidc.TOKENS_SESSION_KEY not in client.session


def test_discovery_button_fills_the_endpoints_and_saves_nothing(client, workspace, admin_member, provider):
    client.force_login(admin_member)
    response = client.post(
        reverse("identity:connection-create", args=[workspace.slug]),
        {
            "protocol": "oidc",
            "provider": "custom",
            "discover": "1",
            "connection_id": new_connection_token(),
            "issuer": provider.issuer,
            "use_id_token": "on",
        },
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'id="oidc-endpoints"' in html
    assert f'value="{provider.issuer}/authorize/"' in html and f'value="{provider.issuer}/token/"' in html
    assert "Endpoints read from the issuer" in html
    form = lxml.html.fromstring(html)
    assert form.get_element_by_id("id_use_id_token").checked  # what was posted stays
    assert not form.get_element_by_id("id_verify_signature").checked
    assert not IdentityConnection.objects.exists()


# --- Verify token signature, JWKS cache and key rotation -----------------------------------------


def test_without_signature_verification_the_claims_are_still_checked(workspace, provider):
    conn = oidc_connection(workspace, provider, verify_signature=False, jwks_uri="")
    stranger = RSAKey.generate_key(2048)
    assert (
        oidc._verify_id_token(conn, _signed(provider, _claims(provider), key=stranger), "n-1")["sub"] == "1"
    )
    for overrides in ({"aud": "portal-b"}, {"nonce": "other"}, {"exp": int(time.time()) - 3600}):
        with pytest.raises(oidc.OIDCError):
            oidc._verify_id_token(
                conn, _signed(provider, _claims(provider, **overrides), key=stranger), "n-1"
            )
    with pytest.raises(oidc.OIDCError):
        oidc._verify_id_token(conn, "not-a-token", "n-1")


class KeyServer:
    """A JWKS endpoint whose keys the test rotates; it counts the fetches."""

    def __init__(self):
        self.keys = {}
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.fetches += 1
                body = json.dumps({"keys": [k.as_dict(private=False) for k in server.keys.values()]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, kid):
        self.keys[kid] = RSAKey.generate_key(2048, parameters={"kid": kid})
        return self.keys[kid]

    def token(self, kid, issuer):
        now = int(time.time())
        claims = {"iss": issuer, "aud": "portal-a", "sub": "1", "iat": now, "exp": now + 300, "nonce": "n-1"}
        key = self.keys.get(kid) or RSAKey.generate_key(2048, parameters={"kid": kid})
        return jwt.encode({"alg": "RS256", "kid": kid}, claims, key, algorithms=["RS256"])


@pytest.fixture
def key_server():
    cache.clear()
    server = KeyServer()
    yield server
    cache.clear()  # its entries were written at a moved clock
    server.httpd.shutdown()
    server.httpd.server_close()


def test_jwks_is_cached_and_a_new_kid_refetches_once(workspace, provider, key_server, time_machine):
    time_machine.move_to("2030-01-01T00:00:00Z", tick=False)
    conn = oidc_connection(workspace, provider, jwks_uri=key_server.url)
    key_server.add("k1")
    for _ in range(5):
        oidc._verify_id_token(conn, key_server.token("k1", provider.issuer), "n-1")
    assert key_server.fetches == 1

    # The provider rotates to k2: the first token with k2 reads the set again, once.
    time_machine.shift(120)
    key_server.add("k2")
    for _ in range(5):
        oidc._verify_id_token(conn, key_server.token("k2", provider.issuer), "n-1")
    assert key_server.fetches == 2

    # A kid the provider does not have: refused, and it refetches at most once a minute.
    time_machine.shift(120)
    for _ in range(5):
        with pytest.raises(oidc.OIDCError):
            oidc._verify_id_token(conn, key_server.token("k9", provider.issuer), "n-1")
    assert key_server.fetches == 3
    time_machine.shift(30)
    with pytest.raises(oidc.OIDCError):
        oidc._verify_id_token(conn, key_server.token("k9", provider.issuer), "n-1")
    assert key_server.fetches == 3

    # After an hour the cached set expires and is read again.
    time_machine.shift(oidc.JWKS_TTL + 1)
    oidc._verify_id_token(conn, key_server.token("k1", provider.issuer), "n-1")
    assert key_server.fetches == 4


def test_a_real_sign_in_reads_the_keys_once(client, workspace, provider, monkeypatch):
    cache.clear()
    fetched = []
    real_fetch = oidc.net.fetch_json
    monkeypatch.setattr(
        oidc.net, "fetch_json", lambda url, **kw: fetched.append(url) or real_fetch(url, **kw)
    )
    conn = oidc_connection(workspace, provider, create_users=True)
    provider.user("kai", "kai@corp.example")
    for _ in range(3):
        assert sign_in(client, provider, provider.browser("kai"), conn).status_code == 302
        client.logout()
    assert fetched.count(conn.jwks_uri) == 1
