"""SAML in a real browser: the IdP's cross-site POST to the ACS carries no SameSite=Lax session
cookie (a requests-based test would send it and hide the bug); the GET continuation does."""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.e2e.conftest import browser_context_args, browser_type_launch_args  # noqa: F401 - fixtures

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
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Corp SAML").click()
    expect(page.locator("h1")).to_have_text("Profile")
    assert User.objects.filter(email="sam@corp.example").exists()
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    assert cookie["sameSite"] == "Lax"
