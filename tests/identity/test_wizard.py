"""The New Provider Connection wizard: presets, the addresses shown before saving, and a save that
never needs the network (only discovery does)."""

import socket

import lxml.html
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from identity import oidc, saml
from identity.forms import new_connection_token
from identity.models import OIDC_PROVIDERS, SAML_PROVIDERS, IdentityConnection
from identity.presets import OIDC_PRESETS

from .conftest import idp_metadata

pytestmark = pytest.mark.django_db

METADATA = idp_metadata()


def create_url(workspace):
    return reverse("identity:connection-create", args=[workspace.slug])


def open_form(client, workspace, protocol, provider):
    response = client.get(create_url(workspace), {"protocol": protocol, "provider": provider})
    assert response.status_code == 200
    return response.content.decode()


def form_values(html: str) -> dict:
    """What the browser would send for the dialog's form as it is shown."""
    form = lxml.html.fromstring(html).get_element_by_id("connection-form")
    return dict(form.form_values())


@pytest.fixture
def no_dns(monkeypatch):
    """Any name lookup fails: saving must not need one."""
    lookups = []

    def refuse(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return lookups


@pytest.mark.parametrize("provider", [value for value, _ in OIDC_PROVIDERS if value != "custom"])
def test_every_oidc_preset_saves_with_only_the_admins_values_and_no_network(
    client, workspace, admin_member, no_dns, provider
):
    """The preset fills the endpoints, scopes and claims; the admin gives the tenant/domain values
    (the form fills them into the URLs), the client id and secret. No DNS is needed."""
    client.force_login(admin_member)
    html = open_form(client, workspace, "oidc", provider)
    data = form_values(html)
    preset = OIDC_PRESETS[provider]
    for param in preset.params:
        assert f'name="{param.field_name}"' in html and f"{{{param.token}}}" in html
        data[param.field_name] = param.example
    data.update(name=f"{provider} SSO", client_id="portal", client_secret="s3cret")
    response = client.post(create_url(workspace), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    conn = IdentityConnection.objects.get(name=f"{provider} SSO")
    urls = [conn.issuer, conn.authorization_endpoint, conn.token_endpoint, conn.jwks_uri]
    assert all(url.startswith("https://") and "{" not in url for url in urls), urls
    assert conn.userinfo_endpoint.startswith("https://") and "{" not in conn.revocation_endpoint
    assert conn.scopes == "openid,email,profile" and conn.claim_user_id and conn.claim_email == "email"
    assert conn.provider == provider and conn.verify_signature and conn.code_challenge_method == "S256"
    assert no_dns == []


def test_a_preset_value_left_out_is_named(client, workspace, admin_member, no_dns):
    client.force_login(admin_member)
    data = form_values(open_form(client, workspace, "oidc", "okta"))
    data.update(name="Okta", client_id="portal")
    response = client.post(create_url(workspace), data)
    html = response.content.decode()
    assert response.status_code == 422
    assert "Fill in Okta domain at the top: this value is built from it." in html
    assert "Enter a valid URL" not in html and not IdentityConnection.objects.exists()
    data.update(param_okta_domain="acme.okta.com/evil?x=")
    assert "Use letters, digits, dots and dashes" in client.post(create_url(workspace), data).content.decode()
    data.update(param_okta_domain="acme.okta.com")
    assert client.post(create_url(workspace), data).status_code == 302
    conn = IdentityConnection.objects.get()
    assert conn.issuer == "https://acme.okta.com/oauth2/default"
    assert conn.revocation_endpoint == "https://acme.okta.com/oauth2/default/v1/revoke"


def test_google_preset_is_complete(client, workspace, admin_member):
    client.force_login(admin_member)
    data = form_values(open_form(client, workspace, "oidc", "google"))
    assert data["issuer"] == "https://accounts.google.com"
    assert data["jwks_uri"] == "https://www.googleapis.com/oauth2/v3/certs"
    assert data["revocation_endpoint"] == "https://oauth2.googleapis.com/revoke"
    assert data["claim_picture"] == "picture" and data["scopes"] == "openid,email,profile"


@pytest.mark.parametrize("provider", [value for value, _ in SAML_PROVIDERS])
def test_saml_presets_prefill_the_claims(client, workspace, admin_member, provider):
    client.force_login(admin_member)
    html = open_form(client, workspace, "saml", provider)
    data = form_values(html)
    assert (
        data["claim_user_id"] == "NameID"
        and data["claim_email"]
        and data.get("want_signed_assertions") == "on"
    )
    assert "IDP metadata file" in html and "Sign client requests" in html and "openssl genrsa" in html


def test_callback_url_is_shown_before_saving_and_kept(client, workspace, admin_member, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    client.force_login(admin_member)
    html = open_form(client, workspace, "oidc", "google")
    shown = lxml.html.fromstring(html).get_element_by_id("callback-url").text
    assert shown.startswith("https://portal.example.com/sso/") and shown.endswith("/callback/")
    assert 'data-copy-from="#callback-url"' in html
    data = form_values(html)
    data.update(name="Google", client_id="portal", client_secret="s")
    assert client.post(create_url(workspace), data).status_code == 302
    conn = IdentityConnection.objects.get()
    assert oidc.callback_url(conn) == shown and conn.webapp_url == ""  # follows PORTAL_BASE_URL


def test_webapp_url_builds_the_callback_and_acs(client, workspace, admin_member, settings):
    settings.ALLOWED_HOSTS = ["testserver", "portal.internal", "clearml.example.com"]
    settings.PORTAL_BASE_URL = "https://portal.internal"
    client.force_login(admin_member)
    html = open_form(client, workspace, "saml", "custom")
    data = form_values(html)
    data.update(name="Corp", idp_metadata=METADATA, webapp_url="https://clearml.example.com/")
    preview = client.post(create_url(workspace), {**data, "name": ""})
    assert preview.status_code == 422
    acs = lxml.html.fromstring(preview.content.decode()).get_element_by_id("callback-url").text
    assert acs.startswith("https://clearml.example.com/sso/") and acs.endswith("/saml/acs/")
    assert client.post(create_url(workspace), data).status_code == 302
    conn = IdentityConnection.objects.get()
    assert conn.webapp_url == "https://clearml.example.com"
    assert saml.acs_url(conn) == acs
    assert saml.sp_entity_id(conn) == f"https://clearml.example.com/sso/{conn.pk}/saml/metadata/"
    assert 'Location="https://clearml.example.com/sso/' in saml.metadata(conn)


@pytest.mark.parametrize(
    ("webapp_url", "message"),
    [
        ("https://clearml.example.com/portal", "scheme and host only"),
        ("https://elsewhere.example.org", "not in ALLOWED_HOSTS"),
        ("http://clearml.example.com", "Use an https URL"),
    ],
)
def test_webapp_url_must_be_where_the_portal_answers(
    client, workspace, admin_member, settings, webapp_url, message
):
    settings.ALLOWED_HOSTS = ["testserver", "clearml.example.com"]
    settings.PORTAL_BASE_URL = "https://portal.internal"
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    client.force_login(admin_member)
    data = form_values(open_form(client, workspace, "saml", "custom"))
    data.update(name="Corp", idp_metadata=METADATA, webapp_url=webapp_url)
    response = client.post(create_url(workspace), data)
    assert response.status_code == 422 and message in response.content.decode()


def test_the_connection_id_cannot_be_forged_or_saved_twice(client, workspace, admin_member):
    client.force_login(admin_member)
    data = form_values(open_form(client, workspace, "saml", "custom"))
    data.update(name="Corp", idp_metadata=METADATA)
    forged = client.post(
        create_url(workspace), {**data, "connection_id": "00000000-0000-4000-8000-0000000000c3"}
    )
    assert forged.status_code == 422 and "This form is damaged" in forged.content.decode()
    assert client.post(create_url(workspace), data).status_code == 302
    again = client.post(create_url(workspace), {**data, "name": "Corp 2"})
    assert again.status_code == 422 and "saved already" in again.content.decode()
    assert IdentityConnection.objects.count() == 1


def test_saving_needs_no_dns_and_errors_agree(client, workspace, admin_member, no_dns, settings):
    """With the endpoints filled in nothing is looked up. With them blank, discovery runs and its
    failure is one message on the issuer: never "the issuer is required" when it is filled."""
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    client.force_login(admin_member)
    data = {
        "protocol": "oidc",
        "save": "1",
        "connection_id": new_connection_token(),
        "provider": "custom",
        "name": "Corp",
        "issuer": "https://sso.corp.invalid/o",
        "client_id": "portal",
        "authorization_endpoint": "https://sso.corp.invalid/o/authorize/",
        "token_endpoint": "https://sso.corp.invalid/o/token/",
        "jwks_uri": "https://sso.corp.invalid/o/jwks/",
        "use_id_token": "on",
        "verify_signature": "on",
        "code_challenge_method": "S256",
        "scopes": "openid,email,profile",
        "claim_user_id": "sub",
        "claim_email": "email",
        "claim_name": "name",
    }
    blank = {**data, "authorization_endpoint": "", "token_endpoint": "", "jwks_uri": ""}
    response = client.post(create_url(workspace), blank)
    html = response.content.decode()
    assert response.status_code == 422 and no_dns == ["sso.corp.invalid"]
    assert html.count("Discovery failed: Cannot resolve sso.corp.invalid.") == 1
    assert "issuer is required" not in html
    no_dns.clear()
    assert client.post(create_url(workspace), data).status_code == 302
    assert no_dns == []


def test_an_empty_issuer_is_required_once(client, workspace, admin_member):
    client.force_login(admin_member)
    data = form_values(open_form(client, workspace, "oidc", "custom"))
    data.update(name="Corp", client_id="portal")
    html = client.post(create_url(workspace), data).content.decode()
    assert html.count("The issuer is required") == 1 and "Discovery failed" not in html


def test_without_signature_checks_the_token_endpoint_must_be_https(client, workspace, admin_member, settings):
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    client.force_login(admin_member)
    data = form_values(open_form(client, workspace, "oidc", "google"))
    data.update(name="Google", client_id="portal")
    data.pop("verify_signature")
    data["jwks_uri"] = ""
    assert client.post(create_url(workspace), data).status_code == 302
    conn = IdentityConnection.objects.get()
    assert not conn.verify_signature and conn.jwks_uri == ""
    data["verify_signature"] = "on"
    response = client.post(reverse("identity:connection-edit", args=[workspace.slug, conn.pk]), data)
    assert response.status_code == 422 and "Required to verify token signatures" in response.content.decode()


def test_saml_metadata_file_is_uploaded(client, workspace, admin_member):
    client.force_login(admin_member)
    data = form_values(open_form(client, workspace, "saml", "jumpcloud"))
    data.update(name="JumpCloud")
    data["idp_metadata_file"] = SimpleUploadedFile("metadata.xml", METADATA.encode(), "application/xml")
    response = client.post(create_url(workspace), data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    conn = IdentityConnection.objects.get()
    assert conn.idp_metadata == METADATA and conn.claim_groups == "memberOf"
    bad = form_values(open_form(client, workspace, "saml", "custom"))
    bad.update(name="Bad", idp_metadata=METADATA)
    bad["idp_metadata_file"] = SimpleUploadedFile("m.xml", b'<?xml version="1.0"?><!DOCTYPE x []><x/>')
    response = client.post(create_url(workspace), bad)
    assert response.status_code == 422 and "contains a DTD" in response.content.decode()
