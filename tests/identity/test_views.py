import pytest
from django.db import connection as db_connection
from django.urls import reverse

from identity.forms import new_connection_token
from identity.models import IdentityConnection
from workspaces.models import AuditEvent

from ..factories import make_workspace
from .conftest import idp_metadata, make_connection

pytestmark = pytest.mark.django_db

OIDC_POST = {
    "protocol": "oidc",
    "save": "1",
    "connection_id": new_connection_token(),
    "name": "Company SSO",
    "provider": "okta",
    "issuer": "http://127.0.0.1:9/o",
    "client_id": "portal-client",
    "client_secret": "s3cr3t-client-value",
    "authorization_endpoint": "http://127.0.0.1:9/o/authorize/",
    "token_endpoint": "http://127.0.0.1:9/o/token/",
    "jwks_uri": "http://127.0.0.1:9/o/.well-known/jwks.json",
    "use_id_token": "on",
    "code_challenge_method": "S256",
    "scopes": "openid,email,profile",
    "require_verified_email": "on",
    "claim_user_id": "sub",
    "claim_email": "email",
    "claim_name": "name",
}


MINIMAL_IDP_METADATA = idp_metadata()


def url(name, workspace, *args):
    return reverse(f"identity:{name}", args=[workspace.slug, *args])


def test_outsider_404_member_403(client, workspace, member, outsider, connection):
    client.force_login(outsider)
    assert client.get(url("connection-list", workspace)).status_code == 404
    client.force_login(member)
    assert client.get(url("connection-list", workspace)).status_code == 403
    assert (
        client.post(url("connection-toggle", workspace, connection.pk), {"enabled": "on"}).status_code == 403
    )
    connection.refresh_from_db()
    assert not connection.enabled


def test_list_shows_connections_and_never_the_secret(client, workspace, admin_member, connection):
    client.force_login(admin_member)
    response = client.get(url("connection-list", workspace))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Acme SSO" in html and str(connection.pk) in html
    assert "top-secret-value" not in html
    edit = client.get(url("connection-edit", workspace, connection.pk)).content.decode()
    assert "Acme SSO" in edit and "top-secret-value" not in edit


def test_sidebar_links_identity_providers_for_admins_only(client, workspace, admin_member, member):
    client.force_login(admin_member)
    link = url("connection-list", workspace)
    assert link in client.get(reverse("access:user-list", args=[workspace.slug])).content.decode()
    client.force_login(member)
    assert link not in client.get(reverse("accounts:profile")).content.decode()


def test_list_fragment_and_query_budget(client, workspace, admin_member, django_assert_max_num_queries):
    for n in range(5):
        make_connection(workspace, name=f"SSO {n}")
    client.force_login(admin_member)
    with django_assert_max_num_queries(12):
        response = client.get(url("connection-list", workspace), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="connection-table"' in html and "<html" not in html
    assert html.count('data-testid="connection-row"') == 5


def test_create_chooser_filters_providers_by_protocol(client, workspace, admin_member):
    client.force_login(admin_member)
    create = url("connection-create", workspace)
    oidc = client.get(create).content.decode()
    assert 'name="protocol"' in oidc and 'value="oidc" checked' in oidc
    for label in (
        "Auth0",
        "AWS Cognito",
        "Google",
        "Keycloak",
        "Microsoft AD",
        "Microsoft Azure",
        "Okta",
        "Ping",
    ):
        assert f">{label}</option>" in oidc
    assert ">Duo</option>" not in oidc and ">Jumpcloud</option>" not in oidc
    # Choosing SAML asks for the step again (htmx, on change) with the SAML providers only.
    saml = client.get(
        create, {"choose": "1", "protocol": "saml"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert 'value="saml" checked' in saml and "<html" not in saml
    options = saml.count("</option>")
    assert options == 5 and ">Duo</option>" in saml and ">Jumpcloud</option>" in saml and "Okta" not in saml
    refused = client.get(create, {"protocol": "saml", "provider": "okta"})
    assert refused.status_code == 422 and "Choose one of the SAML providers" in refused.content.decode()
    form = client.get(create, {"protocol": "oidc", "provider": "okta"}).content.decode()
    assert "Client ID" in form and "Entity ID" not in form
    form = client.get(create, {"protocol": "saml", "provider": "jumpcloud"}).content.decode()
    assert "Entity ID" in form and "Client ID" not in form


def test_create_oidc_encrypts_secret_and_audits(client, workspace, admin_member, allow_private):
    client.force_login(admin_member)
    response = client.post(url("connection-create", workspace), OIDC_POST)
    assert response.status_code == 302
    conn = IdentityConnection.objects.get(workspace=workspace)
    assert conn.client_secret == "s3cr3t-client-value"
    assert conn.provider == "okta" and conn.protocol == "oidc" and not conn.enabled
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM identity_identityconnection WHERE id = %s", [conn.pk])
        stored = cursor.fetchone()[0]
    assert "s3cr3t" not in stored
    event = AuditEvent.objects.get(action="identity.create")
    assert event.workspace == workspace and "s3cr3t" not in str(event.after)


def test_edit_keeps_secret_when_blank_and_audits_change(
    client, workspace, admin_member, connection, allow_private
):
    client.force_login(admin_member)
    data = {**OIDC_POST, "name": "Renamed", "client_secret": ""}
    response = client.post(url("connection-edit", workspace, connection.pk), data)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Renamed" and connection.client_secret == "top-secret-value"
    event = AuditEvent.objects.get(action="identity.update")
    assert event.after["name"] == "Renamed" and "client_secret" not in event.after


def test_invalid_form_422_htmx_nothing_saved(client, workspace, admin_member, allow_private):
    client.force_login(admin_member)
    data = {**OIDC_POST, "client_id": "", "issuer": ""}
    response = client.post(url("connection-create", workspace), data, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#modal-content"
    assert "The issuer is required" in response.content.decode()
    assert not IdentityConnection.objects.exists()


def test_duplicate_name_refused(client, workspace, admin_member, connection, allow_private):
    client.force_login(admin_member)
    response = client.post(url("connection-create", workspace), {**OIDC_POST, "name": "acme sso"})
    assert response.status_code == 422
    assert "Another connection has this name" in response.content.decode()


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8000/o",
        "https://127.0.0.1/o",
        "https://10.1.2.3/o",
        "https://169.254.169.254/latest",
        "https://[::1]/o",
        "https://100.64.0.1/o",
        "https://100.100.100.200/latest",
        "https://192.0.0.8/o",
        "https://[2002:7f00:1::1]/o",
        "https://user:pw@8.8.8.8/o",
        "file:///etc/passwd",
    ],
)
def test_ssrf_guard_refuses_private_urls(client, workspace, admin_member, target):
    client.force_login(admin_member)
    data = {**OIDC_POST, "issuer": target, "token_endpoint": target}
    response = client.post(url("connection-create", workspace), data)
    assert response.status_code == 422
    assert not IdentityConnection.objects.exists()


def test_saml_requires_metadata_and_a_matching_key_pair_for_signing(
    client, workspace, admin_member, tmp_path
):
    from .saml_idp import self_signed

    key_pem, cert_pem = (part.decode() for part in self_signed("portal"))
    other_key, _ = (part.decode() for part in self_signed("other"))
    client.force_login(admin_member)
    data = {
        "protocol": "saml",
        "save": "1",
        "connection_id": new_connection_token(),
        "name": "Duo",
        "provider": "duo",
        "claim_user_id": "uid",
        "claim_email": "mail",
        "claim_name": "cn",
        "sign_requests": "on",
        "sp_public_key": cert_pem,
    }
    response = client.post(url("connection-create", workspace), data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Upload or paste the metadata file" in html and "needs the public and the private key" in html
    data.update(idp_metadata=MINIMAL_IDP_METADATA, sp_private_key=other_key)
    response = client.post(url("connection-create", workspace), data)
    assert response.status_code == 422 and "does not belong to the certificate" in response.content.decode()
    data.update(sp_private_key="-----BEGIN PRIVATE KEY-----x")
    assert "not a PEM key" in client.post(url("connection-create", workspace), data).content.decode()
    data.update(sp_private_key=key_pem)
    assert client.post(url("connection-create", workspace), data).status_code == 302
    conn = IdentityConnection.objects.get()
    assert conn.protocol == "saml" and conn.sign_requests and conn.sp_private_key == key_pem.strip()
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT sp_private_key FROM identity_identityconnection WHERE id = %s", [conn.pk])
        assert "PRIVATE KEY" not in cursor.fetchone()[0]
    assert (
        "PRIVATE KEY-----\nMII" not in client.get(url("connection-edit", workspace, conn.pk)).content.decode()
    )
    assert (
        key_pem.splitlines()[1] not in client.get(url("connection-edit", workspace, conn.pk)).content.decode()
    )


def test_toggle_and_delete_are_audited(client, workspace, admin_member, connection):
    client.force_login(admin_member)
    response = client.post(
        url("connection-toggle", workspace, connection.pk), {"enabled": "on"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and 'id="connection-table"' in response.content.decode()
    connection.refresh_from_db()
    assert connection.enabled
    assert client.post(url("connection-toggle", workspace, connection.pk), {}).status_code == 302
    connection.refresh_from_db()
    assert not connection.enabled
    assert (
        "Delete Acme SSO?" in client.get(url("connection-delete", workspace, connection.pk)).content.decode()
    )
    assert client.post(url("connection-delete", workspace, connection.pk)).status_code == 302
    assert not IdentityConnection.objects.exists()
    actions = list(AuditEvent.objects.filter(action__startswith="identity.").values_list("action", flat=True))
    assert sorted(actions) == ["identity.delete", "identity.disable", "identity.enable"]


def test_other_workspaces_connection_is_404(client, workspace, admin_member, owner):
    other = make_workspace(owner=owner, name="Other")
    foreign = make_connection(other, name="Foreign")
    client.force_login(admin_member)
    assert client.get(url("connection-edit", workspace, foreign.pk)).status_code == 404
    assert client.post(url("connection-toggle", workspace, foreign.pk), {"enabled": "on"}).status_code == 404
    assert client.post(url("connection-delete", workspace, foreign.pk)).status_code == 404
    assert IdentityConnection.objects.filter(pk=foreign.pk, enabled=False).exists()


def test_sign_in_page_lists_enabled_oidc_connections_only(client, workspace):
    make_connection(workspace, name="Shown SSO", enabled=True)
    make_connection(workspace, name="Hidden SSO", enabled=False)
    html = client.get(reverse("accounts:login"), {"workspace": workspace.slug}).content.decode()
    assert "Sign in with Shown SSO" in html and "Hidden SSO" not in html


def test_sign_in_buttons_stay_within_their_workspace(client, workspace, owner, settings):
    """With several workspaces, one admin's connection is never offered to another workspace's users."""
    other = make_workspace(owner=owner, name="Other")
    make_connection(workspace, name="Team SSO", enabled=True)
    make_connection(other, name="Other SSO", enabled=True)
    login = reverse("accounts:login")

    settings.PORTAL_SINGLE_WORKSPACE = False
    plain = client.get(login).content.decode()
    assert "Sign in with" not in plain
    team = client.get(login, {"workspace": workspace.slug}).content.decode()
    assert "Sign in with Team SSO" in team and "Other SSO" not in team

    settings.PORTAL_SINGLE_WORKSPACE = True  # a self-hosted install: its connections on the plain page
    single = client.get(login).content.decode()
    assert "Sign in with Team SSO" in single and "Sign in with Other SSO" in single


def test_the_admin_page_shows_the_workspace_sign_in_link(client, workspace, admin_member, settings):
    settings.PORTAL_SINGLE_WORKSPACE = False
    client.force_login(admin_member)
    html = client.get(reverse("identity:connection-list", args=[workspace.slug])).content.decode()
    assert f"/accounts/login/?workspace={workspace.slug}" in html
