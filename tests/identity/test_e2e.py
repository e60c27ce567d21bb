"""Browser journeys. SAML: the IdP's cross-site POST to the ACS carries no SameSite=Lax session
cookie (a requests-based test would send it and hide the bug); the GET continuation does.

The wizard journeys go as an administrator would: choose the protocol and provider, copy the
callback/ACS URL into the provider before saving, save, register the portal at the provider, turn
the connection on, and sign in through it for real (django-oauth-toolkit, pysaml2).
Set PORTAL_SCREENSHOT_DIR to keep screenshots of the wizard at 1440 and 390 px.
"""

import os
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from accounts.models import User
from identity.models import IdentityConnection
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    browser_context_args,
    browser_type_launch_args,
    sign_in,
)

from .conftest import saml_connection
from .provider import PASSWORD as PROVIDER_PASSWORD
from .saml_idp import IdP, self_signed, sp_metadata

pytestmark = [pytest.mark.e2e]


def shot(page: Page, name: str, width: int = 1440) -> None:
    """Keep a screenshot when PORTAL_SCREENSHOT_DIR is set (to look at; nothing is compared). The
    viewport is made tall so the whole dialog shows, then put back."""
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": width, "height": 3600})
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"))
        page.set_viewport_size({"width": 1440, "height": 900})


@pytest.fixture
def browser_idp(live_server, settings, tmp_path):
    settings.PORTAL_BASE_URL = live_server.url
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    # The portal is on localhost, the IdP on 127.0.0.1: two sites, as in production.
    assert "localhost" in live_server.url
    idp = IdP(tmp_path, portal=live_server.url).start()
    yield idp
    idp.stop()


def test_saml_sign_in_in_chromium(page: Page, live_server, workspace, browser_idp):
    saml_connection(workspace, browser_idp, create_users=True)
    page.goto(f"{live_server.url}/accounts/login/?workspace={workspace.slug}")
    page.get_by_role("link", name="Sign in with Corp SAML").click()
    expect(page.locator("h1")).to_have_text("Profile")
    assert User.objects.filter(email="sam@corp.example").exists()
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    assert cookie["sameSite"] == "Lax"


def open_wizard(page: Page, live_server, owner):
    page.set_viewport_size({"width": 1440, "height": 900})
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server.url, owner.email)
    page.get_by_role("link", name="Identity Providers").click()
    expect(page.locator("h1")).to_have_text("Identity Providers")
    page.get_by_role("link", name="+ New Connection").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    return dialog, errors


def sign_in_through(page: Page, name: str) -> None:
    """Signed out, from the workspace's own sign-in link (as the admin page shows it to share),
    through the provider's button."""
    link = page.get_by_test_id("sso-sign-in-link").text_content().strip()
    assert "/accounts/login/?workspace=" in link
    page.context.clear_cookies()
    page.goto(link)
    page.get_by_role("link", name=f"Sign in with {name}").click()


def test_oidc_connection_from_the_wizard_to_a_real_sign_in(
    page: Page, live_server, settings, workspace, owner, oidc_provider
):
    settings.PORTAL_BASE_URL = live_server.url
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    dialog, errors = open_wizard(page, live_server, owner)

    # Step one: the provider list follows the protocol.
    provider = dialog.get_by_label("Provider")
    expect(provider.locator("option")).to_have_count(9)
    dialog.get_by_label("SAML").check()
    expect(provider.locator("option")).to_have_count(5)
    expect(provider.locator("option", has_text="Jumpcloud")).to_have_count(1)
    expect(provider.locator("option", has_text="Okta")).to_have_count(0)
    shot(page, "wizard-step1")
    shot(page, "wizard-step1", 390)
    dialog.get_by_label("OIDC").check()
    expect(provider.locator("option", has_text="Okta")).to_have_count(1)
    provider.select_option("okta")
    dialog.get_by_role("button", name="Next").click()

    # A preset: the admin's Okta domain fills every URL as it is typed.
    expect(dialog.get_by_test_id("provider-label")).to_have_text("Okta")
    expect(dialog.get_by_label("Issuer URL")).to_have_value("https://{okta-domain}/oauth2/default")
    dialog.get_by_label("Okta domain").fill("acme.okta.com")
    expect(dialog.get_by_label("Issuer URL")).to_have_value("https://acme.okta.com/oauth2/default")
    expect(dialog.get_by_label("Revocation endpoint")).to_have_value(
        "https://acme.okta.com/oauth2/default/v1/revoke"
    )
    shot(page, "wizard-oidc-okta")
    shot(page, "wizard-oidc-okta", 390)
    dialog.get_by_role("button", name="Close").click()

    # The real provider is a custom one: the callback URL is shown, and copied, before saving.
    page.get_by_role("link", name="+ New Connection").click()
    dialog.get_by_label("Provider").select_option("custom")
    dialog.get_by_role("button", name="Next").click()
    callback = dialog.get_by_test_id("callback-url").text_content().strip()
    assert callback.startswith(f"{live_server.url}/sso/") and callback.endswith("/callback/")
    dialog.get_by_role("button", name="Copy the callback URL").click()
    assert page.evaluate("navigator.clipboard.readText()") == callback
    oidc_provider.admin("app", "portal-e2e", "secret-e2e", callback)  # pasted into the provider's app

    dialog.get_by_label("Display name").fill("Company SSO")
    dialog.get_by_label("Client ID").fill("portal-e2e")
    dialog.get_by_label("Client secret").fill("secret-e2e")
    dialog.get_by_label("Issuer URL").fill(oidc_provider.issuer)
    dialog.get_by_role("button", name="Read from issuer").click()
    expect(dialog.get_by_test_id("discovery-result")).to_contain_text("Endpoints read from the issuer")
    expect(dialog.get_by_label("Access token endpoint")).to_have_value(f"{oidc_provider.issuer}/token/")
    expect(dialog.get_by_label("Client secret")).to_have_value(
        "secret-e2e"
    )  # only the endpoints were swapped
    dialog.get_by_label("Revocation endpoint").fill(f"{oidc_provider.issuer}/revoke_token/")
    dialog.get_by_label("Create new users on first login").check()
    dialog.get_by_label("User groups synchronization").check()
    shot(page, "wizard-oidc-custom")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = page.locator("[data-testid=connection-row]", has_text="Company SSO")
    expect(row).to_contain_text("Custom")
    connection = IdentityConnection.objects.get(name="Company SSO")
    assert callback == f"{live_server.url}/sso/{connection.pk}/callback/"
    assert connection.client_secret == "secret-e2e" and connection.revocation_endpoint.endswith(
        "/revoke_token/"
    )

    with page.expect_response(lambda r: "/toggle/" in r.url and r.request.method == "POST") as toggled:
        row.get_by_role("switch").check()
    assert toggled.value.status == 200

    oidc_provider.user("olga", "olga@corp.example", first="Olga", last="Example")
    sign_in_through(page, "Company SSO")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PROVIDER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Profile")
    user = User.objects.get(email="olga@corp.example")
    assert user.username == "Olga Example" and user.external_identities.get().connection == connection
    assert not [e for e in errors if "Content Security Policy" in e]


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST], ids=["redirect", "post"])
def test_saml_connection_with_signed_requests_from_the_wizard_to_a_real_sign_in(
    page: Page, live_server, settings, workspace, owner, tmp_path, binding
):
    settings.PORTAL_BASE_URL = live_server.url
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    idp = IdP(
        tmp_path,
        portal=live_server.url,
        sp=sp_metadata(uuid.uuid4()),
        bindings=(binding,),
        require_signed_requests=True,
    ).start()
    try:
        metadata_file = tmp_path / "idp-metadata.xml"
        metadata_file.write_text(idp.metadata)  # downloaded from the IdP's console
        key, cert = (
            part.decode() for part in self_signed("portal")
        )  # openssl genrsa / x509, as the hint says

        dialog, errors = open_wizard(page, live_server, owner)
        dialog.get_by_label("SAML").check()
        expect(dialog.get_by_label("Provider").locator("option")).to_have_count(5)
        dialog.get_by_label("Provider").select_option("custom")
        dialog.get_by_role("button", name="Next").click()
        acs = dialog.get_by_test_id("callback-url").text_content().strip()
        metadata_url = dialog.get_by_test_id("metadata-url").text_content().strip()
        assert acs.endswith("/saml/acs/") and metadata_url.endswith("/saml/metadata/")

        dialog.get_by_label("Display name").fill("Corp SAML")
        dialog.get_by_label("IDP metadata file").set_input_files(str(metadata_file))
        dialog.get_by_label("Sign client requests").check()
        dialog.get_by_text("Generate a key pair").click()
        expect(dialog.get_by_text("openssl genrsa -out server.key 2048")).to_be_visible()
        dialog.get_by_label("Public key").fill(cert)
        dialog.get_by_label("Private key").fill(key)
        dialog.get_by_label("Create new users on first login").check()
        dialog.locator("#id_claim_email").fill("mail")  # what this IdP sends
        expect(dialog.locator("#id_claim_name")).to_have_value("cn")
        shot(page, f"wizard-saml-{binding.rsplit('-', 1)[-1].lower()}")
        shot(page, f"wizard-saml-{binding.rsplit('-', 1)[-1].lower()}", 390)
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        connection = IdentityConnection.objects.get(name="Corp SAML")
        assert acs == f"{live_server.url}/sso/{connection.pk}/saml/acs/"
        assert connection.sign_requests and connection.sp_private_key.startswith("-----BEGIN RSA PRIVATE KEY")
        assert connection.idp_metadata == idp.metadata

        # The administrator registers the portal at the IdP with its metadata (certificate included).
        idp.trust_sp(requests.get(metadata_url, timeout=10).text)
        row = page.locator("[data-testid=connection-row]", has_text="Corp SAML")
        row.get_by_role("switch").check()
        expect(row.get_by_role("switch")).to_be_checked()

        sign_in_through(page, "Corp SAML")
        expect(page.locator("h1")).to_have_text("Profile")
        assert idp.requests == [(binding, True)] and idp.refused == []
        assert User.objects.get(email="sam@corp.example").external_identities.get().connection == connection
        assert not [e for e in errors if "Content Security Policy" in e]
    finally:
        idp.stop()
