"""The foundation in a real browser: sign in, rename inline, flip a preference, edit the hidden arguments."""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User, UserPreferences
from tests.factories import UserFactory
from workspaces.models import AuditEvent

from .conftest import sign_in

pytestmark = pytest.mark.e2e


def test_foundation_journey(page: Page, live_server, transactional_db):
    user = UserFactory(email="journey@example.com", username="journey")
    errors: list[str] = []
    # A refused form answers 422 on purpose (htmx swaps it in); Chromium logs that as a failed load.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "status of 422" not in msg.text else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Anonymous visitors land on the sign-in form; a wrong password is answered inline.
    page.goto(live_server.url + "/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email or username").fill("journey")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")

    sign_in(page, live_server.url, "journey")
    expect(page.locator("#pro-tip")).to_be_visible()

    # Profile: hover the username, click the pencil, type, click the check mark.
    field = page.locator("#username-field")
    field.hover()
    pencil = page.get_by_role("link", name="Edit username")
    expect(pencil).to_be_visible()
    pencil.click()
    box = page.get_by_role("textbox", name="Username")
    expect(box).to_be_focused()
    box.fill("")
    page.get_by_role("button", name="Save username").click()
    expect(page.get_by_role("alert")).to_have_text("Enter a username.")
    box = page.get_by_role("textbox", name="Username")
    box.fill("Journey Tester")
    page.get_by_role("button", name="Save username").click()
    expect(page.get_by_test_id("username")).to_have_text("Journey Tester")
    expect(field.get_by_role("status")).to_have_text("Saved")
    assert page.url.endswith("/settings/profile/")  # htmx swapped the field, no page load
    assert User.objects.get(pk=user.pk).username == "Journey Tester"
    expect(page.locator(".topbar .who")).to_have_text("Journey Tester")  # updated out of band

    # Escape cancels an edit.
    page.locator("#username-field").hover()
    page.get_by_role("link", name="Edit username").click()
    page.get_by_role("textbox", name="Username").press("Escape")
    expect(page.get_by_test_id("username")).to_have_text("Journey Tester")

    # Configuration: flip a preference; it persists across a reload.
    page.get_by_role("navigation", name="Settings").get_by_role(
        "link", name="Configuration", exact=True
    ).click()
    expect(page.locator("h1")).to_have_text("Configuration")
    switch = page.get_by_role("switch", name="Don't show ClearML examples")
    expect(switch).not_to_be_checked()
    switch.check()
    expect(page.locator("#pref-hide_examples").get_by_role("status")).to_have_text("Saved")
    page.reload()
    expect(page.get_by_role("switch", name="Don't show ClearML examples")).to_be_checked()
    assert UserPreferences.objects.get(user=user).hide_examples is True

    # "Disable HiDPI" reloads the page without the override class on <html>.
    expect(page.locator("html")).to_have_class("hidpi-override")
    page.get_by_role("switch", name="Disable HiDPI browser scale override").check()
    expect(page.locator("html")).not_to_have_class("hidpi-override")
    expect(page.get_by_role("switch", name="Disable HiDPI browser scale override")).to_be_checked()

    # Hidden container arguments: the Edit dialog, a bad name refused inside it, then saved.
    hidden = page.get_by_role("list", name="Hidden container arguments")
    expect(hidden.get_by_role("listitem")).to_have_count(4)
    page.locator("#hidden-args").get_by_role("link", name="Edit").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    textarea = dialog.get_by_label("Hidden container arguments")
    expect(textarea).to_be_focused()
    textarea.press("Control+End")
    textarea.type("\nbad name!")
    dialog.get_by_role("button", name="Save").click()
    # The entry is refused whole (never split into an accepted "bad"), and nothing is saved.
    expect(dialog.locator(".error")).to_contain_text("“bad name!” is not an environment variable name")
    expect(dialog).to_be_visible()
    assert "bad" not in UserPreferences.objects.get(user=user).hidden_container_args
    textarea = dialog.get_by_label("Hidden container arguments")
    textarea.fill(textarea.input_value().replace("bad name!", "MY_PRIVATE_TOKEN"))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(hidden.get_by_role("listitem")).to_have_count(5)
    expect(hidden).to_contain_text("MY_PRIVATE_TOKEN")
    assert UserPreferences.objects.get(user=user).hidden_container_args[-1] == "MY_PRIVATE_TOKEN"

    # The dialog closes with its ✕ and with Escape.
    page.locator("#hidden-args").get_by_role("link", name="Edit").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("link", name="Close").click()
    expect(dialog).to_be_hidden()
    page.locator("#hidden-args").get_by_role("link", name="Edit").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    actions = set(AuditEvent.objects.filter(actor=user).values_list("action", flat=True))
    assert {"user.rename", "preferences.update", "preferences.hidden_args"} <= actions

    # Sign out is a POST from the top bar.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert errors == [], errors


@pytest.mark.parametrize("ci,outcome", [("true", "1 error"), ("", "1 skipped")])
def test_missing_browser_fails_in_ci_and_skips_elsewhere(ci, outcome):
    """CI=true turns a missing /usr/bin/chromium into an error, never a silent skip."""
    import os
    import subprocess
    import sys
    from urllib.parse import urlsplit, urlunsplit

    from django.conf import settings

    # The probe must never touch this run's test database (it fails before any database
    # fixture, but a mistake there would drop ours): point it at another name.
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    probe_db = urlunsplit(url._replace(path=url.path.rstrip("/") + "_browser_probe"))
    env = {**os.environ, "CI": ci, "PORTAL_CHROMIUM": "/nonexistent/chromium", "DATABASE_URL": probe_db}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/e2e/test_foundation_journey.py::test_foundation_journey",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome in result.stdout, result.stdout[-2000:]
    assert "/nonexistent/chromium is missing" in result.stdout
    assert (result.returncode != 0) is (ci == "true")
