"""Sign-in lands in the workspace used last (else the most active one): the demo opens on Demo Lab.

Set PORTAL_SCREENSHOT_DIR to keep screenshots (to look at; nothing is compared).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from settings_portal.management.commands.portal_demo import DEMO_ADMIN, DEMO_MEMBER_PASSWORD
from settings_portal.management.commands.portal_demo import Command as DemoCommand

from .conftest import settings_nav, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)


def sign_out(page: Page) -> None:
    page.locator("header.topbar").get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("Sign in")


@pytest.mark.parametrize("width", [1440, 390])
def test_the_demo_admin_lands_in_demo_lab_and_the_choice_is_remembered(page: Page, live_server, width):
    DemoCommand().load()
    page.set_viewport_size({"width": width, "height": 900})
    email, password = DEMO_ADMIN

    sign_in(page, live_server.url, email, password)
    expect(page.locator(".workspace-chip")).to_have_text("Demo Lab")
    expect(page.locator("main")).to_contain_text("Demo Lab (Owner)")
    shot(page, "landing-demo-admin")
    # The administrator pages show the demo's data, not an empty personal workspace.
    settings_nav(page).get_by_role("link", name="Users & Groups").click()
    expect(page.locator("main")).to_contain_text("alice@example.com")
    shot(page, "landing-demo-users")

    # Switch to the personal workspace: the next sign-in lands there.
    settings_nav(page).get_by_role("link", name="Workspace", exact=True).click()
    page.get_by_role("button", name="Switch to workspace admin's workspace").click()
    expect(page.locator(".workspace-chip")).to_have_text("admin's workspace")
    sign_out(page)
    sign_in(page, live_server.url, email, password)
    expect(page.locator(".workspace-chip")).to_have_text("admin's workspace")

    # A demo member who never chose lands where the activity is: Demo Lab.
    sign_out(page)
    sign_in(page, live_server.url, "alice@example.com", DEMO_MEMBER_PASSWORD)
    expect(page.locator(".workspace-chip")).to_have_text("Demo Lab")
