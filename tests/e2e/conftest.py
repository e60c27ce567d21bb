"""Shared fixtures of the browser journeys (pytest-playwright + live_server, Debian's Chromium).

Never `playwright install`: the browser is /usr/bin/chromium. In CI (CI=true) a missing
browser fails every journey; elsewhere they are skipped with the reason.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")  # overridable for the CI-failure test
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API beside live_server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


def sign_in(page: Page, base_url: str, login: str, password: str = PASSWORD) -> None:
    """Sign in through the real form and wait for the Profile page."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email or username").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Profile")


def settings_nav(page: Page):
    """The settings navigation, opened first on a small screen (where it is behind the top bar's
    Menu toggle, docs/ui.md "Small screens")."""
    toggle = page.locator("[data-nav-toggle]")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    return page.get_by_role("navigation", name="Settings")


@pytest.fixture
def signed_in_page(page: Page, live_server):
    """A function (user) -> page signed in as USER on the live server."""

    def sign_in_as(user, password: str = PASSWORD) -> Page:
        sign_in(page, live_server.url, user.email, password)
        return page

    return sign_in_as
