"""Every settings page at 390 px (a phone) and at 1440 px (issue 14, item 2).

The walk takes every page URL of the URLconf (the same enumeration as tests/test_url_access.py,
with the real objects of tests/test_form_fuzz.py's demo-like world), so a new page is covered
as soon as it has a URL. Signed in as the workspace's owner (an administrator), each page is
visited at 390x844 and must not be wider than the screen: `scrollWidth <= innerWidth` (a wide
table scrolls inside its own box, `.table-scroll`, docs/ui.md "Small screens").

Set PORTAL_SHOTS=/some/dir to keep a screenshot of every page at both widths (to look at; nothing
is compared).
"""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import resolve
from playwright.sync_api import Page, expect

from tests.test_form_fuzz import World, url_for
from tests.test_url_access import ROUTES, classify

from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
SHOTS = os.environ.get("PORTAL_SHOTS", "")
# Signed-in pages: the user's own settings and the workspace's. (Public pages are the sign-in
# card, which has no navigation; they are walked signed out below.)
PAGE_ROUTES = [r for r in ROUTES if classify(r) in ("user", "workspace")]
# Signed out: the sign-in card and its siblings (not SSO, which leaves for the identity provider).
PUBLIC_ROUTES = [
    r
    for r in ROUTES
    if classify(r) == "public" and r.name.split(":")[0] in ("home", "accounts", "workspaces")
]
OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 1 && el.getClientRects().length)
    .filter((el) => !el.closest(".table-scroll, .board-scroll, pre, dialog:not([open])"))
    .slice(0, 5)
    .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : ""));
  return {scroll: document.documentElement.scrollWidth, inner: width, wide};
}"""


def shot(page: Page, name: str, full_page: bool = True) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=f"{SHOTS}/{width}-{name}.png", full_page=full_page)


@pytest.fixture
def world(live_server, settings):
    settings.PORTAL_BASE_URL = live_server.url
    return World()


def visit(page: Page, base: str, path: str) -> bool:
    """Open PATH in the page if it is an HTML page of this site (not a download, not a POST-only
    URL, not a redirect to an identity provider)."""
    probe = page.request.get(base + path, max_redirects=0)
    if probe.status in (301, 302, 303, 307, 308):
        target = probe.headers.get("location", "")
        if "://" in target and not target.startswith(base):
            return False
    elif probe.status == 405 or "text/html" not in (probe.headers.get("content-type") or ""):
        return False
    page.goto(base + path)
    return True


DIALOG_FITS = """(dialog) => {
  const box = dialog.getBoundingClientRect();
  return {fits: box.left >= 0 && box.right <= window.innerWidth && box.top >= 0 && box.bottom <= window.innerHeight
            && dialog.scrollWidth <= dialog.clientWidth,
          left: box.left, right: box.right, top: box.top, bottom: box.bottom,
          scroll: dialog.scrollWidth, client: dialog.clientWidth};
}"""


def dialogs_fit(page: Page, opened: set[str]) -> list[str]:
    """Open each dialog of the page whose view was not opened yet (one per URL name): it must fit
    the screen and nothing in it may be wider than it (long content scrolls inside)."""
    problems = []
    dialog = page.locator("dialog#modal")
    for opener in page.locator('[hx-get][hx-target="#modal-content"]').all():
        if not opener.is_visible() or dialog.evaluate("d => d.open"):
            continue
        name = resolve(urlsplit(opener.get_attribute("hx-get")).path).view_name
        if name in opened:
            continue
        opened.add(name)
        opener.click()
        expect(dialog).to_be_visible()
        page.wait_for_load_state("networkidle")
        result = dialog.evaluate(DIALOG_FITS)
        if not result["fits"]:
            problems.append(f"dialog {name} (from {page.url}): {result}")
        shot(page, "dialog-" + re.sub(r"[^a-z0-9]+", "-", name.lower()), full_page=False)
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    return problems


def walk(page: Page, base: str, world: World, routes, dialogs: set[str] | None = None) -> list[str]:
    """Visit each route's page; return the ones wider than the screen (and, given DIALOGS, the
    dialogs that do not fit it)."""
    problems, seen = [], set()
    for route in routes:
        if not visit(page, base, url_for(route, world)) or page.url in seen:
            continue
        seen.add(page.url)
        result = page.evaluate(OVERFLOW)
        if result["scroll"] > result["inner"]:
            problems.append(f"{route.name} ({page.url}): {result}")
        shot(page, re.sub(r"[^a-z0-9]+", "-", route.name.lower()))
        if dialogs is not None:
            problems += dialogs_fit(page, dialogs)
    return problems


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1440"])
def test_no_settings_page_is_wider_than_the_screen(page: Page, live_server, world, viewport):
    page.set_viewport_size(viewport)
    problems = walk(page, live_server.url, world, PUBLIC_ROUTES)
    sign_in(page, live_server.url, world.owner.email)
    dialogs: set[str] = set()
    problems += walk(page, live_server.url, world, PAGE_ROUTES, dialogs if viewport is PHONE else None)
    if viewport is PHONE:
        assert len(dialogs) > 20, f"the walk opened too few dialogs: {sorted(dialogs)}"
    assert not problems, "pages wider than the screen:\n" + "\n".join(problems)


def test_the_navigation_collapses_on_a_phone(page: Page, live_server, world):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url, world.owner.email)
    page.goto(f"{live_server.url}/w/{world.workspace.slug}/vaults/")
    nav = page.get_by_role("navigation", name="Settings")
    toggle = page.get_by_role("button", name="Menu")

    # Collapsed: the page's own heading is on the first screen, not the sidebar.
    expect(nav).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", "settings-nav")
    assert page.locator("h1").bounding_box()["y"] < PHONE["height"] / 3

    # Opened by a click; closed by a click.
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="Administrator Vaults")).to_have_attribute("aria-current", "page")
    shot(page, "nav-open", full_page=False)
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()

    # By keyboard: Enter opens, the focus ring shows, Escape closes and returns to the toggle.
    toggle.focus()
    page.keyboard.press("Enter")
    expect(nav).to_be_visible()
    assert toggle.evaluate("el => el.matches(':focus-visible')")
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_be_focused()
    page.keyboard.press("Space")
    expect(nav).to_be_visible()

    # A link in it goes to its page, where the navigation starts collapsed again.
    nav.get_by_role("link", name="Users & Groups").click()
    expect(page.locator("h1")).to_contain_text("Users")
    expect(page.get_by_role("navigation", name="Settings")).to_be_hidden()


def test_the_navigation_is_a_sidebar_on_a_desktop(page: Page, live_server, world):
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, world.owner.email)
    page.goto(f"{live_server.url}/w/{world.workspace.slug}/vaults/")
    expect(page.get_by_role("navigation", name="Settings")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    nav_box = page.get_by_role("navigation", name="Settings").bounding_box()
    main_box = page.locator("main").bounding_box()
    assert nav_box["x"] + nav_box["width"] <= main_box["x"] + 1  # side by side


def test_without_javascript_the_menu_link_still_opens_the_navigation(browser, live_server, world):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server.url, world.owner.email)
    page.goto(f"{live_server.url}/w/{world.workspace.slug}/vaults/")
    nav = page.locator("#settings-nav")
    expect(nav).to_be_hidden()
    page.get_by_role("link", name="Menu").click()
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="Users & Groups").click()
    expect(page.locator("h1")).to_contain_text("Users")
    expect(page.locator("#settings-nav")).to_be_hidden()
    context.close()
