"""Browser journeys. SAML: the IdP's cross-site POST to the ACS carries no SameSite=Lax session
cookie (a requests-based test would send it and hide the bug); the GET continuation does."""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from identity.models import IdentityConnection
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    browser_context_args,
    browser_type_launch_args,
    sign_in,
)

from .conftest import saml_connection
from .saml_idp import IdP

pytestmark = [pytest.mark.e2e]


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


def test_admin_adds_an_oidc_connection_by_discovery_and_enables_it(
    page: Page, live_server, settings, workspace, owner, oidc_provider
):
    """The dialogs with real htmx: protocol/provider, the configuration (endpoints discovered from
    the real provider), the Active switch, and the button on the sign-in page."""
    settings.PORTAL_BASE_URL = live_server.url
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server.url, owner.email)
    page.get_by_role("link", name="Identity Providers").click()
    expect(page.locator("h1")).to_have_text("Identity Providers")

    page.get_by_role("link", name="+ New Connection").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Provider").select_option("custom")
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_label("Display name").fill("Company SSO")
    dialog.get_by_label("Client ID").fill("portal-a")
    dialog.get_by_label("Client secret").fill("secret-a")
    dialog.get_by_role("button", name="Save").click()
    # Without an issuer the dialog stays open with the error.
    expect(dialog.get_by_text("The issuer is required")).to_be_visible()
    dialog.get_by_label("Issuer URL").fill(oidc_provider.issuer)
    dialog.get_by_label("Client secret").fill("secret-a")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = page.locator("[data-testid=connection-row]", has_text="Company SSO")
    expect(row).to_contain_text("Custom")
    connection = IdentityConnection.objects.get(name="Company SSO")
    assert connection.jwks_uri.startswith(oidc_provider.issuer) and connection.client_secret == "secret-a"

    with page.expect_response(lambda r: "/toggle/" in r.url and r.request.method == "POST") as toggled:
        row.get_by_role("switch").check()
    assert toggled.value.status == 200
    expect(
        page.locator("[data-testid=connection-row]", has_text="Company SSO").get_by_role("switch")
    ).to_be_checked()
    connection.refresh_from_db()
    assert connection.enabled

    # The workspace's own sign-in link, as the page shows it for the admin to share.
    sign_in_link = page.get_by_test_id("sso-sign-in-link").text_content().strip()
    assert "/accounts/login/?workspace=" in sign_in_link
    page.context.clear_cookies()
    page.goto(sign_in_link)
    expect(page.get_by_role("link", name="Sign in with Company SSO")).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e]
