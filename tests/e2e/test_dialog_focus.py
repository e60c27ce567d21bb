"""Opening a dialog focuses its first visible, enabled field: not the hidden default Save a form
keeps first so Enter saves (static/js/portal.js), and Enter in a field still saves."""

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from access.models import AccessRule, UserGroup
from tests.e2e.conftest import browser_context_args, browser_type_launch_args, signed_in_page  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots-fix-rules")

FOCUSED = "() => { const el = document.activeElement; return el ? (el.id || el.name || el.tagName) : null; }"


def settled(page) -> None:
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def focused(page) -> str:
    return page.evaluate(FOCUSED)


def test_dialogs_focus_their_first_visible_field(signed_in_page, live_server, workspace, owner, member):  # noqa: F811
    page = signed_in_page(owner)
    page.goto(f"{live_server.url}/w/{workspace.slug}/access-rules/")
    page.get_by_role("link", name="+ Add rules").click()
    dialog = page.locator("#rule-form")
    expect(dialog).to_be_visible()
    settled(page)
    assert focused(page) == "rule-resource"
    assert page.evaluate("() => document.activeElement.tagName") == "SELECT"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "rule-dialog-focus.png"))
    # Enter in a field saves the rule (the hidden default Save), here refused: no targets yet.
    dialog.locator("#rule-targets-search").press("Enter")
    expect(dialog.locator(".error").first).to_be_visible()
    settled(page)
    assert AccessRule.objects.count() == 0
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()

    page.goto(live_server.url + reverse("access:group-list", args=[workspace.slug]))
    page.get_by_role("link", name="+ Add group").click()
    group = page.locator("#group-form")
    expect(group).to_be_visible()
    settled(page)
    assert page.evaluate("() => document.activeElement.name") == "name"
    page.keyboard.type("Vision team")
    page.keyboard.press("Enter")  # the hidden default Save
    expect(group).to_be_hidden()
    assert UserGroup.objects.filter(name="Vision team").exists()
    # The dialog's member list opened as a page: inside the layout, with the way back.
    page.goto(live_server.url + reverse("access:group-member-search", args=[workspace.slug]) + "?search=memb")
    expect(page.get_by_test_id("search-page")).to_contain_text("member")
    page.screenshot(path=str(SHOTS / "member-search-page.png"))
    page.get_by_role("link", name="Users & Groups").last.click()
    expect(page.get_by_role("link", name="+ Add group")).to_be_visible()
