"""The ClearML Server panel in headless Chromium: it loads into the Workspace page, and Test
connection shows what the server says now (pytest-playwright + live_server)."""

import os

import pytest
from playwright.sync_api import expect

from gateway import cache
from tests.e2e.conftest import browser_context_args, browser_type_launch_args, signed_in_page  # noqa: F401

from .conftest import link

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS", "")


def test_an_administrator_tests_the_connection(signed_in_page, live_server, workspace, owner, standin):  # noqa: F811
    cache.reset()
    link(workspace, standin, owner)
    page = signed_in_page(owner)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}/settings/workspace/?open={workspace.slug}")
        server = page.locator(f"#clearml-server-{workspace.slug}")
        expect(server.get_by_test_id("server-status")).to_contain_text("Reachable")
        expect(server).to_contain_text(standin.url)
        if SCREENSHOTS:
            server.scroll_into_view_if_needed()
            page.screenshot(path=f"{SCREENSHOTS}/clearml-server-{width}.png", full_page=True)
    standin.go_down()
    server.get_by_role(
        "button", name=f"Test the connection to the ClearML server of {workspace.name}"
    ).click()
    expect(server).to_contain_text("Not reachable")
    expect(server).to_contain_text("could not be reached")
    expect(server.get_by_role("status")).to_have_text("Checked just now")
