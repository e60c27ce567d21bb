"""Browser journeys through the error pages: 403 (with the workspace's admins), 404, the expired
form (CSRF failure) and 500, each styled, inside the layout, with a way back, at 1440 and 390 px.

Set PORTAL_SCREENSHOT_DIR to keep screenshots (to look at; nothing is compared).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import UserFactory

from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1440, 390)


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)


def assert_fits_the_screen(page: Page) -> None:
    """The error panel is within the viewport and nothing in it overflows its box. (The whole
    page's width at 390 px is the layout's business: the mobile journey checks it.)"""
    panel = page.get_by_test_id("error-page")
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.evaluate("window.innerWidth"), box
    assert panel.evaluate("el => el.scrollWidth <= el.clientWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_member_on_an_admin_page_sees_who_the_admins_are(page: Page, live_server, workspace, member, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, member.email)
    # Arriving from the Workspace page (a bookmark, a link in a message): that is the way back.
    page.goto(
        f"{live_server.url}/w/{workspace.slug}/users/", referer=f"{live_server.url}/settings/workspace/"
    )

    error = page.get_by_test_id("error-page")
    expect(page.locator("h1")).to_have_text("This page is for admins of Team")
    expect(error).to_contain_text("It needs the Admin role in Team; you are a Member.")
    admins = page.locator("#workspace-admins li")
    expect(admins).to_have_count(2)  # the owner and the admin, not the plain member
    expect(admins.nth(0)).to_contain_text("owner@example.com")
    expect(admins.nth(1)).to_contain_text("admin@example.com")
    expect(page.get_by_role("link", name="admin@example.com")).to_have_attribute(
        "href", "mailto:admin@example.com"
    )
    expect(page.locator("#workspace-admins")).not_to_contain_text("member@example.com")
    expect(page.locator("header.topbar")).to_be_visible()  # inside the layout
    shot(page, "error-403")
    assert_fits_the_screen(page)

    # The way back: to the page the member came from.
    page.get_by_role("link", name="Back to the previous page").click()
    expect(page.locator("h1")).to_have_text("Workspace")


@pytest.mark.parametrize("width", WIDTHS)
def test_not_found_signed_in_and_out(page: Page, live_server, workspace, outsider, width):
    page.set_viewport_size({"width": width, "height": 900})
    response = page.goto(f"{live_server.url}/no/such/page/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator(".card")).to_be_visible()  # the plain card: nobody is signed in
    assert_fits_the_screen(page)
    shot(page, "error-404-signed-out")
    page.get_by_role("link", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Sign in")

    sign_in(page, live_server.url, outsider.email)
    response = page.goto(f"{live_server.url}/w/{workspace.slug}/vaults/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.get_by_test_id("error-page")).to_contain_text(f"/w/{workspace.slug}/vaults/")
    expect(page.get_by_test_id("error-page")).not_to_contain_text("Team")  # existence is not confirmed
    expect(page.locator("nav.sidebar")).to_be_attached()
    assert_fits_the_screen(page)
    shot(page, "error-404")
    page.get_by_role("link", name="Go to Workspace").click()
    expect(page.locator("h1")).to_have_text("Workspace")


@pytest.mark.parametrize("width", WIDTHS)
def test_an_expired_form_says_so_and_reloads_the_page(page: Page, context, live_server, width):
    user = UserFactory(email="csrf@example.com", username="csrf")
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, user.email)
    page.goto(f"{live_server.url}/settings/configuration/")
    # The CSRF cookie is gone (a new browser session, another tab signed out and in): the form is stale.
    cookies = [c for c in context.cookies() if c["name"] != "csrftoken"]
    context.clear_cookies()
    context.add_cookies(cookies)
    page.get_by_role("button", name="Sign out").click()

    expect(page.locator("h1")).to_have_text("This form has expired")
    expect(page.get_by_test_id("error-page")).to_contain_text("Nothing was changed.")
    assert_fits_the_screen(page)
    shot(page, "error-csrf")
    page.get_by_role("link", name="Reload the page").click()
    expect(page.locator("h1")).to_have_text("Configuration")


@pytest.mark.parametrize("width", WIDTHS)
def test_server_error_page(page: Page, live_server, settings, width):
    settings.ROOT_URLCONF = "tests.error_urls"
    page.set_viewport_size({"width": width, "height": 900})
    response = page.goto(f"{live_server.url}/boom/")
    assert response.status == 500
    expect(page.locator("h1")).to_have_text("Something went wrong on our side")
    expect(page.locator("link[href$='errors.css']")).to_be_attached()
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.error-code')).textTransform") == "uppercase"
    )
    assert_fits_the_screen(page)
    shot(page, "error-500")
    page.get_by_role("link", name="Back to the portal").click()
    expect(page.locator("h1")).to_have_text("Sign in")
