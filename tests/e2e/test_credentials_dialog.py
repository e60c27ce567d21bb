"""The new-credentials dialog shows the whole secret (wrapped, never cut off) at 1440 and 390 px,
and its copy button copies all of it. Set PORTAL_SCREENSHOT_DIR to keep screenshots."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import UserFactory

from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1440, 390])
def test_the_secret_wraps_inside_the_dialog_and_copies_whole(page: Page, context, live_server, width):
    user = UserFactory(email="wrap@example.com", username="wrap")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, user.email)
    page.goto(f"{live_server.url}/settings/workspace/")
    page.locator("a:visible", has_text="+ Create new credentials").first.click()
    dialog = page.locator("dialog#modal")
    dialog.get_by_label("Label").fill("a-label-long-enough-to-matter")
    dialog.get_by_role("button", name="Create").click()

    configuration = dialog.locator("#credential-configuration")
    expect(configuration).to_contain_text('"secret_key" = "')
    # Nothing is cut off: the text fits its box's width, and the box fits the dialog and the screen.
    assert configuration.evaluate("el => el.scrollWidth <= el.clientWidth")
    box, dialog_box = configuration.bounding_box(), dialog.bounding_box()
    assert dialog_box["x"] >= 0 and dialog_box["x"] + dialog_box["width"] <= width
    assert box["x"] >= dialog_box["x"] and box["x"] + box["width"] <= dialog_box["x"] + dialog_box["width"]
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"credentials-dialog-{width}.png"))

    text = configuration.text_content()
    secret = re.search(r'"secret_key" = "([^"\n]+)"', text).group(1)
    assert len(secret) >= 40  # the whole secret, on one logical line: wrapping added no newline
    dialog.locator("[data-copy-from='#credential-configuration']").click()
    expect(dialog.locator("[data-copy-from='#credential-configuration']")).to_have_text("Copied")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard == text and f'"secret_key" = "{secret}"' in clipboard
